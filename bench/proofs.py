"""Proofs of work for the signing benchmark, minted as the site mints them: `python -m bench.proofs COUNT`.

A browser GETs /pow/challenge/ and solves it before it signs; a load generator
doing that would measure a second request per signature and its own hashing.
Run with the servers' environment (same SECRET_KEY, PROOF_OF_WORK_MAX_NUMBER=0),
this prints COUNT fresh proofs, one per line, that the server verifies exactly
as it verifies a browser's: one HMAC, one SHA-256, and the digest in the INSERT.
"""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courrier.settings")
django.setup()

from courrier.lib import proof_of_work  # noqa: E402  (after django.setup(): it reads the settings)


def main() -> None:
    count = int(sys.argv[1])
    lines = []
    for _ in range(count):
        challenge = proof_of_work.new_challenge()
        lines.append(proof_of_work.encode(challenge, proof_of_work.solve(challenge)))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
