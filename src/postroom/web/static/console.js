// postroom console: the few behaviours that need a script. A file of its own, not inline
// <script>, so the Content-Security-Policy allows scripts from this origin only. Listeners sit
// on the document, so they also serve content htmx swaps in later.
"use strict";

// <button data-copy="ID" data-copy-status="ID">: copies the text of element ID to the clipboard.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const status = document.getElementById(button.dataset.copyStatus);
  try {
    await navigator.clipboard.writeText(document.getElementById(button.dataset.copy).textContent);
    if (status) status.textContent = "Copied.";
  } catch (error) {
    if (status) status.textContent = button.dataset.copyRefused || "Copying is not allowed here: select the text and copy it.";
  }
});

// <input type=checkbox data-select-all="SELECTOR">: ticks or unticks every box SELECTOR matches.
document.addEventListener("change", (event) => {
  const all = event.target.closest("input[data-select-all]");
  if (!all) return;
  for (const box of document.querySelectorAll(all.dataset.selectAll)) box.checked = all.checked;
});

// <a data-back href="FALLBACK">: back to the previous page when there is one.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-back]");
  if (!link || window.history.length < 2) return;
  event.preventDefault();
  window.history.back();
});
