// Tabs for a page that lists its parts as links to sections (the studio's news, one section per language).
// Without JavaScript every section shows and the links jump to them; with it, one section shows at a time,
// as tabs in the WAI-ARIA pattern (arrow keys, Home and End). Hidden sections are still sent with the form.
(() => {
  "use strict";
  document.querySelectorAll("[data-tabs]").forEach((nav) => {
    const list = nav.querySelector("ul");
    const tabs = Array.from(nav.querySelectorAll("a[href^='#']"));
    const panels = tabs.map((tab) => document.getElementById(tab.hash.slice(1)));
    if (!list || !tabs.length || panels.includes(null)) return;

    list.setAttribute("role", "tablist");
    tabs.forEach((tab, index) => {
      const panel = panels[index];
      tab.parentElement.setAttribute("role", "presentation");
      tab.setAttribute("role", "tab");
      tab.id = tab.id || "tab-" + panel.id;
      tab.setAttribute("aria-controls", panel.id);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
    });

    function select(index, focus) {
      tabs.forEach((tab, other) => {
        const chosen = other === index;
        tab.setAttribute("aria-selected", chosen ? "true" : "false");
        tab.tabIndex = chosen ? 0 : -1;
        panels[other].hidden = !chosen;
      });
      if (focus) tabs[index].focus();
    }

    tabs.forEach((tab, index) => {
      tab.addEventListener("click", (event) => {
        event.preventDefault();
        select(index, false);
      });
      tab.addEventListener("keydown", (event) => {
        const last = tabs.length - 1;
        const moves = { ArrowRight: index === last ? 0 : index + 1, ArrowLeft: index === 0 ? last : index - 1,
          Home: 0, End: last };
        if (!(event.key in moves)) return;
        event.preventDefault();
        select(moves[event.key], true);
      });
    });

    // The first section with an error to fix, else the one the address names, else the first.
    const withError = panels.findIndex((panel) => panel.querySelector(".errorlist"));
    const named = panels.findIndex((panel) => "#" + panel.id === window.location.hash);
    select(withError >= 0 ? withError : Math.max(named, 0), false);
  });
})();
