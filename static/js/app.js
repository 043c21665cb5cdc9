// Small progressive enhancements; every page works without this file.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const open of document.querySelectorAll("details.switcher[open]")) {
    open.removeAttribute("open");
    open.querySelector("summary").focus();
  }
});

// A page following work in the background (a statement import) reloads itself every few seconds.
const refresh = document.querySelector("[data-refresh]");
if (refresh) {
  setTimeout(() => window.location.reload(), Number(refresh.dataset.refresh) * 1000);
}
