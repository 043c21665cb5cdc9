// Queue keyboard shortcuts: j/k move the highlighted row, Enter opens it, c claims the next
// item, / jumps to the filters. Keys typed into a field are left alone. The page works without it.
(() => {
  const table = document.getElementById("queue-table");
  if (!table) return;
  const rows = Array.from(table.querySelectorAll("tbody tr[data-href]"));
  let current = -1;

  function highlight(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => {
      row.classList.toggle("is-current", i === current);
      if (i === current) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
    const row = rows[current];
    row.tabIndex = -1;
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
  }

  // A click on a row highlights it too, so that j/k continue from there.
  rows.forEach((row, i) => row.addEventListener("click", () => { current = i; highlight(i); }));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    if (event.key === "j") {
      highlight(current + 1);
    } else if (event.key === "k") {
      highlight(current < 0 ? 0 : current - 1);
    } else if (event.key === "Enter" && current >= 0 && document.activeElement === rows[current]) {
      window.location.assign(rows[current].dataset.href);
    } else if (event.key === "c") {
      const claim = document.getElementById("claim-next");
      if (!claim) return;
      claim.requestSubmit();
    } else if (event.key === "/") {
      const first = document.querySelector("form.filters input, form.filters select");
      if (!first) return;
      first.focus();
    } else {
      return;
    }
    event.preventDefault();
  });
  table.dataset.keys = "on";  // the shortcuts are listening (the script is deferred)
})();
