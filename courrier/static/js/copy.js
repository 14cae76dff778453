// Copy buttons: each <button data-copy="field-id"> copies that readonly field's text.
// Without JavaScript the buttons stay hidden and the fields can be selected by hand.
// A button with data-count-url also counts one "copied by hand" click, once per page.
(() => {
  "use strict";
  let counted = false;

  function announce(button, ok) {
    const status = document.getElementById(button.dataset.copyStatus || "copy-status");
    const message = status ? status.dataset[ok ? "copied" : "failed"] : "";
    if (status) {
      status.textContent = "";
      // A fresh text node so that a second copy is announced again.
      window.setTimeout(() => { status.textContent = message; }, 50);
    }
    if (ok && message) {
      const label = button.dataset.label || button.textContent;
      button.dataset.label = label;
      button.textContent = message;
      window.setTimeout(() => { button.textContent = label; }, 2000);
    }
  }

  function count(button) {
    if (counted || !button.dataset.countUrl) return;
    counted = true;
    fetch(button.dataset.countUrl, { credentials: "same-origin", redirect: "manual", cache: "no-store" }).catch(() => {});
  }

  function copyByCommand() {
    try {
      return document.execCommand("copy");
    } catch (error) {
      return false;
    }
  }

  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      // Selected either way: if copying fails, the text is ready to copy by hand.
      field.focus();
      field.select();
      const done = (ok) => {
        announce(button, ok);
        if (ok) count(button);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(() => done(true), () => done(copyByCommand()));
      } else {
        done(copyByCommand());
      }
    });
  });
})();
