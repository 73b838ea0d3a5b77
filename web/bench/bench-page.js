// The bench page's entry points, which `webslm bench` calls through Playwright. A module file,
// not an inline script: the server's Content-Security-Policy (serve/headers.py) refuses those.
import { runBench } from "./bench.js";
import { runProfile } from "./profile-run.js";
window.webslmBench = (config) => {
  window.__benchResult = undefined;
  runBench(config, (line) => { document.getElementById("log").textContent += line + "\n"; })
    .then((r) => { window.__benchResult = r; },
          (e) => { window.__benchResult = { error: String(e && e.stack || e) }; });
};
window.webslmProfile = (config) => {
  window.__benchResult = undefined;
  runProfile(config, (line) => { document.getElementById("log").textContent += line + "\n"; })
    .then((r) => { window.__benchResult = r; },
          (e) => { window.__benchResult = { error: String(e && e.stack || e) }; });
};
window.__benchReady = true;
