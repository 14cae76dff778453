// The embedded form (templates/signatures/embed.html). Everything here is optional: the form works without it.
// It tells the page around it how tall it is, so that page may resize the iframe
// (the snippet's fixed height works without it). Message: {type: "courrier:height",
// height: <CSS pixels>}. Only a number leaves the frame, so any parent origin may receive it.
(function () {
  "use strict";
  // A refused form comes back at the top of the frame: take the reader to the list of what to fix.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  if (window.parent === window) return;

  var lastHeight = 0;
  function postHeight() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === lastHeight) return;
    lastHeight = height;
    window.parent.postMessage({ type: "courrier:height", height: height }, "*");
  }

  postHeight();
  window.addEventListener("load", postHeight);
  if ("ResizeObserver" in window) {
    new ResizeObserver(postHeight).observe(document.documentElement);
  } else {
    window.addEventListener("resize", postHeight);
  }
})();
