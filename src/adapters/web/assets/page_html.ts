/**
 * The web panel's page (served at `/`): the skeleton the script fills. A string module, so it is
 * inside the program, the bundle and the compiled binaries, and no file is read at run time.
 *
 * @module
 */

/** The HTML of the page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>EV charging points</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/panel.css">
<script src="/panel.js" defer></script>
</head>
<body>
<a class="skip" href="#points">Skip to the points</a>
<header class="top">
  <h1 id="title">EV charging points</h1>
  <div class="links" role="status" aria-live="polite">
    <span id="feed" class="badge badge-wait">Connecting</span>
    <span id="kafka" class="badge badge-wait">Kafka: unknown</span>
  </div>
</header>
<main>
  <section class="toolbar" aria-label="Filters and layout">
    <div class="filters" role="group" aria-label="Show points by status" id="filters"></div>
    <label class="search">Find
      <input id="search" type="search" placeholder="id, location or user" autocomplete="off">
    </label>
    <div class="view-switch" role="group" aria-label="Layout">
      <button type="button" id="view-table" aria-pressed="true">Table</button>
      <button type="button" id="view-grid" aria-pressed="false">Grid</button>
    </div>
  </section>
  <section class="selection" id="selection" aria-label="Actions on the selected points">
    <span id="selected-count">0 selected</span>
    <button type="button" id="select-shown">Select shown</button>
    <button type="button" id="select-none">Clear</button>
    <span class="action-group" role="group" aria-label="Act on the selection">
      <button type="button" data-bulk="plug_in" disabled>Plug in</button>
      <button type="button" data-bulk="unplug" disabled>Unplug</button>
      <button type="button" data-bulk="fault" class="danger" disabled>Fault</button>
      <button type="button" data-bulk="recover" disabled>Recover</button>
      <button type="button" data-bulk="stop_service" disabled>Stop service</button>
      <button type="button" data-bulk="resume_service" disabled>Resume service</button>
    </span>
    <form id="bulk-session" class="session-form">
      <label>User <input id="bulk-user" name="user" maxlength="64" autocomplete="off"
        placeholder="driver name"></label>
      <button type="submit" data-bulk="start_session" disabled>Start sessions</button>
    </form>
  </section>
  <div class="layout">
    <div class="table-wrap">
      <table id="points" class="points">
        <caption class="visually-hidden">Charging points, updated live</caption>
        <thead>
          <tr>
            <th scope="col" class="col-check"><input type="checkbox" id="select-all"
              aria-label="Select every shown point"></th>
            <th scope="col">Point</th>
            <th scope="col">Status</th>
            <th scope="col">Health</th>
            <th scope="col">Kafka</th>
            <th scope="col">Monitor probe</th>
            <th scope="col">User</th>
            <th scope="col" class="num">Energy kWh</th>
            <th scope="col" class="num">Cost EUR</th>
            <th scope="col" class="num">Power kW</th>
            <th scope="col">Load</th>
          </tr>
        </thead>
        <tbody id="rows"></tbody>
      </table>
      <p id="empty" class="empty" hidden>No charging point matches the filters.</p>
    </div>
    <aside id="detail" class="detail" aria-labelledby="detail-title" hidden>
      <div class="detail-head">
        <h2 id="detail-title" tabindex="-1">Point</h2>
        <button type="button" id="detail-close" class="close"
          aria-label="Close the point's panel">Close</button>
      </div>
      <p id="detail-status" class="pill"></p>
      <dl id="detail-figures" class="figures"></dl>
      <div class="actions" role="group" aria-label="Actions on this point">
        <button type="button" data-act="plug_in">Plug in</button>
        <button type="button" data-act="unplug">Unplug</button>
        <button type="button" data-act="fault" class="danger">Fault</button>
        <button type="button" data-act="recover">Recover</button>
        <button type="button" data-act="stop_service">Stop service</button>
        <button type="button" data-act="resume_service">Resume service</button>
      </div>
      <form id="session-form" class="session-form">
        <label>User <input id="session-user" name="user" maxlength="64" autocomplete="off"
          placeholder="driver name" required></label>
        <button type="submit">Start session</button>
      </form>
    </aside>
  </div>
  <p id="notice" class="notice" role="status" aria-live="polite"></p>
</main>
<footer class="foot">
  <a href="/metrics">Metrics</a> <a href="/healthz">Health</a>
  <span id="version"></span>
</footer>
</body>
</html>
`;
