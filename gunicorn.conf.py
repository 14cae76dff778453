"""gunicorn reads this file from its working directory: `make run`, the tests and the systemd units all start there.

The access and error logs go through courrier/ops/access_log.py, which keeps
no IP address, query string or link token. Whether there is an access log at
all is still the command line's choice (`--access-logfile -`).
"""

from courrier.ops.access_log import ACCESS_LOG_FORMAT

logger_class = "courrier.ops.access_log.PrivateLogger"
access_log_format = ACCESS_LOG_FORMAT
