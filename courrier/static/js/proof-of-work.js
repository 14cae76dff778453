// The proof of work of the signing forms (courrier/lib/proof_of_work.py explains the scheme).
// As soon as a form is on screen, fetch a challenge from the site and find its number with
// crypto.subtle in batches, so the page never freezes; the answer goes into the hidden "proof"
// field. If the supporter sends the form first, say "checking…", wait, then send it.
// Everything here is optional: without JavaScript (or without crypto.subtle, outside HTTPS)
// the form is sent without a proof, and the site still takes it.
(function () {
  "use strict";
  var BATCH = 1000; // digests in flight at once; between batches the page gets the hand back
  var MARGIN_MS = 30000; // a proof this close to its expiry is solved again before sending

  var w = window;
  if (!(w.crypto && w.crypto.subtle && w.fetch && w.TextEncoder && w.Promise && w.MessageChannel)) return;
  var encoder = new TextEncoder();

  function hexToBytes(hex) {
    var bytes = new Uint8Array(hex.length / 2);
    for (var i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  function sameBytes(buffer, expected) {
    var bytes = new Uint8Array(buffer);
    for (var i = 0; i < expected.length; i++) if (bytes[i] !== expected[i]) return false;
    return true;
  }

  // Yield to the page (input, painting) between batches. Not setTimeout: nested timeouts are
  // clamped to 4 ms, which made solving five times slower; a message is not.
  function nextTurn() {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function () { resolve(); };
      channel.port2.postMessage(0);
    });
  }

  function solve(challenge) {
    var expected = hexToBytes(challenge.challenge);
    function batch(start) {
      var end = Math.min(start + BATCH, challenge.maxnumber + 1);
      var digests = [];
      for (var n = start; n < end; n++) {
        digests.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
      }
      return Promise.all(digests).then(function (results) {
        for (var i = 0; i < results.length; i++) if (sameBytes(results[i], expected)) return start + i;
        if (end > challenge.maxnumber) throw new Error("no number solves the challenge");
        return nextTurn().then(function () { return batch(end); });
      });
    }
    return batch(0);
  }

  function expiryOf(salt) {
    var match = /[?&]expires=(\d+)/.exec(salt);
    return match ? parseInt(match[1], 10) * 1000 : 0;
  }

  function protect(form, box) {
    var field = box.querySelector("input[name=proof]");
    var status = box.querySelector(".proof-status");
    var url = box.getAttribute("data-proof-url");
    var pending = null; // the solving under way, or done
    var expires = 0;
    var sending = false;

    function start() {
      field.value = "";
      pending = fetch(url, { credentials: "omit", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("no challenge");
          return response.json();
        })
        .then(function (challenge) {
          return solve(challenge).then(function (number) {
            expires = expiryOf(challenge.salt);
            var payload = {
              algorithm: challenge.algorithm,
              challenge: challenge.challenge,
              number: number,
              salt: challenge.salt,
              signature: challenge.signature,
            };
            field.value = btoa(JSON.stringify(payload));
          });
        });
      pending.catch(function () { pending = null; }); // tried again when the form is sent
      return pending;
    }

    function fresh() {
      return field.value && Date.now() < expires - MARGIN_MS;
    }

    form.addEventListener("submit", function (event) {
      if (sending || fresh()) return;
      event.preventDefault();
      var submitter = event.submitter;
      // The live region is on the page from the start, empty: filling it is what gets announced.
      status.textContent = status.getAttribute("data-checking");
      if (!pending || (field.value && !fresh())) start();
      pending
        .catch(function () { field.value = ""; }) // no proof: the site still takes the form
        .then(function () {
          sending = true;
          if (form.requestSubmit) form.requestSubmit(submitter || undefined);
          else form.submit();
        });
    });
    // Back from the next page (the browser's page cache): a used proof cannot serve twice.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        sending = false;
        status.textContent = "";
        start();
      }
    });

    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) {
          observer.disconnect();
          if (!pending) start();
        }
      });
      observer.observe(form);
      // Typing in the form starts it too (a form reached by the keyboard is on screen anyway).
      form.addEventListener("focusin", function () { if (!pending) start(); }, { once: true });
    } else {
      start();
    }
  }

  var boxes = document.querySelectorAll("form .proof-of-work[data-proof-url]");
  for (var i = 0; i < boxes.length; i++) protect(boxes[i].closest("form"), boxes[i]);
})();
