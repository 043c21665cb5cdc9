// Small progressive enhancements; every page works without this file.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const open of document.querySelectorAll("details.switcher[open]")) {
    open.removeAttribute("open");
    open.querySelector("summary").focus();
  }
});
