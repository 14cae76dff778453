// The device's share sheet, where there is one (phones, some desktop browsers).
// The button stays hidden otherwise: the plain share links next to it work everywhere.
(() => {
  "use strict";
  if (typeof navigator.share !== "function") return;
  document.querySelectorAll("button[data-share-url]").forEach((button) => {
    const data = { title: button.dataset.shareTitle, text: button.dataset.shareText, url: button.dataset.shareUrl };
    if (typeof navigator.canShare === "function" && !navigator.canShare(data)) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      // Closing the sheet rejects the promise: nothing to report.
      navigator.share(data).catch(() => {});
    });
  });
})();
