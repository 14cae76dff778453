// The studio's letter step: the letter checker's findings and the letter as a target reads it, updated while
// the organiser types (studio/letters.py, check). Without JavaScript both are those of the letter as saved.
(() => {
  "use strict";
  const form = document.querySelector("form[data-check-url]");
  const shown = document.getElementById("checker-findings");
  if (!form || !shown) return;
  let timer = null;
  let asked = 0;

  function render(findings) {
    shown.textContent = "";
    if (!findings.length) {
      const nothing = document.createElement("p");
      nothing.className = "ready";
      nothing.textContent = shown.dataset.nothing;
      shown.appendChild(nothing);
      return;
    }
    const list = document.createElement("ul");
    list.className = "findings";
    findings.forEach((finding) => {
      const item = document.createElement("li");
      item.className = "finding " + (finding.blocks ? "blocker" : "advice");
      item.textContent = finding.text;
      list.appendChild(item);
    });
    shown.appendChild(list);
  }

  // The letter as a target reads it, for the previews' sample supporter (text only: never parsed as HTML).
  function show(reading) {
    const subject = document.getElementById("reading-subject");
    const body = document.getElementById("reading-body");
    if (!reading || !subject || !body) return;
    subject.textContent = reading.subject;
    body.textContent = reading.body;
  }

  async function check() {
    const number = ++asked;
    const data = new FormData(form);
    try {
      const answer = await fetch(form.dataset.checkUrl, { method: "POST", body: data, credentials: "same-origin" });
      if (!answer.ok || number !== asked) return;
      const answered = await answer.json();
      render(answered.findings);
      show(answered.reading);
    } catch (error) {
      // Offline or signed out: the findings shown stay those of the last check.
    }
  }

  form.addEventListener("input", (event) => {
    if (!["id_subject", "id_body"].includes(event.target.id)) return;
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  });
})();
