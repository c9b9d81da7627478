// The scheduler's pages: countdowns to due times, live queue updates (server-sent
// events), the print link. No framework, nothing loaded from elsewhere.
"use strict";

function countdownText(due) {
  const seconds = Math.floor((due - Date.now()) / 1000);
  if (seconds <= 0) return "overdue";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours + " h " + String(minutes).padStart(2, "0") + " min";
}

function tickCountdowns() {
  for (const cell of document.querySelectorAll(".countdown[data-due]")) {
    const due = Date.parse(cell.dataset.due);
    if (!Number.isNaN(due)) {
      cell.textContent = countdownText(due);
      cell.classList.toggle("overdue", due <= Date.now());
    }
  }
}

// The queue page: its live part (counts, pager, rows; queue_rows.html) is fetched again
// whole, for the same filters and page, whenever the stream announces a change.
function liveQueue(table) {
  const status = document.getElementById("live-status");
  const live = document.getElementById("queue-live");
  let pending = null;

  async function refresh() {
    pending = null;
    let answer;
    try {
      answer = await fetch(table.dataset.rowsUrl, { credentials: "same-origin" });
    } catch (error) {
      answer = null;
    }
    if (answer === null || !answer.ok) {
      status.textContent = "reconnecting…";
      pending = setTimeout(refresh, 3000);  // try again; the rows are read whole each time
      return;
    }
    status.textContent = "live";
    live.innerHTML = await answer.text();  // server-rendered, escaped by the server
    tickCountdowns();
    table.dataset.refreshed = String(Date.now());
  }

  const source = new EventSource(table.dataset.liveUrl, { withCredentials: true });
  source.addEventListener("hello", () => { status.textContent = "live"; });
  const banner = document.getElementById("spike-alerts");
  source.addEventListener("alerts", async () => {
    if (!banner) return;
    const answer = await fetch(banner.dataset.bannerUrl, { credentials: "same-origin" });
    if (answer.ok) banner.innerHTML = await answer.text();  // server-rendered, escaped
  });
  source.addEventListener("case", () => {
    if (pending === null) pending = setTimeout(refresh, 250);
  });
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.onopen = () => { status.textContent = "live"; };
}

document.addEventListener("DOMContentLoaded", () => {
  tickCountdowns();
  setInterval(tickCountdowns, 30000);
  const table = document.getElementById("queue");
  if (table) liveQueue(table);
  for (const link of document.querySelectorAll("[data-print]")) {
    link.addEventListener("click", (event) => { event.preventDefault(); window.print(); });
  }
});
