// The placeholder list under a model letter's body (backoffice/previews.py, placeholder_help):
// each placeholder becomes a button that inserts it where the cursor is in that letter's body.
// Without JavaScript the list stays as it is: readable, and the placeholders can be typed.
(() => {
  "use strict";

  function enhance(root) {
    root.querySelectorAll(".placeholder-help").forEach((help) => {
      if (help.dataset.enhanced) return;
      help.dataset.enhanced = "yes";
      if (help.dataset.hint) {
        const hint = document.createElement("p");
        hint.textContent = help.dataset.hint;
        help.insertBefore(hint, help.firstChild);
      }
      help.querySelectorAll("code.placeholder").forEach((code) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "placeholder-insert";
        button.dataset.placeholder = code.dataset.placeholder;
        button.appendChild(code.cloneNode(true));
        code.replaceWith(button);
      });
    });
  }

  function bodyFor(button) {
    // The letter's own body: the inline form this help text belongs to (a new letter's too).
    const form = button.closest(".inline-related") || button.closest("form");
    return form ? form.querySelector("textarea[name$='body']") : null;
  }

  function insert(textarea, text) {
    textarea.focus();
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    textarea.setRangeText(text, start, end, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.placeholder-insert");
    if (!button) return;
    const textarea = bodyFor(button);
    if (textarea) insert(textarea, button.dataset.placeholder);
  });

  // Letters added with "Add another" are copies of a template that is already enhanced; enhance anyway.
  document.addEventListener("formset:added", (event) => enhance(event.target));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhance(document));
  } else {
    enhance(document);
  }
})();
