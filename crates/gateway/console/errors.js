// Loaded first: records every error the page meets (uncaught exceptions, rejected promises that
// nobody handled, console.error calls, resources that failed to load, CSP violations) in
// window.__consoleErrors, so a browser test can assert that a session stayed clean.
"use strict";
(function () {
  const errors = [];
  window.__consoleErrors = errors;
  const record = (kind, message) => errors.push(`${kind}: ${message}`);

  window.addEventListener(
    "error",
    (event) => {
      const target = event.target;
      if (target && target !== window && (target.src || target.href)) {
        // Capture phase: a <script>, <link> or <img> that failed to load.
        record("resource", target.src || target.href);
      } else {
        record("error", `${event.message} (${event.filename}:${event.lineno})`);
      }
    },
    true,
  );
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason;
    record("unhandledrejection", reason && reason.stack ? reason.stack : String(reason));
  });
  document.addEventListener("securitypolicyviolation", (event) => {
    record("csp", `${event.violatedDirective} blocked ${event.blockedURI}`);
  });
  const original = console.error.bind(console);
  console.error = (...args) => {
    record("console.error", args.map(String).join(" "));
    original(...args);
  };
})();
