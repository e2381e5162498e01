// postroom API reference (/api/v1/docs): starts the vendored Swagger UI on the page's OpenAPI
// document. A file of its own, not an inline <script>: the page's Content-Security-Policy
// allows scripts from this origin only.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    domNode: root,
    layout: "BaseLayout", // the operations, without the stand-alone preset's URL bar
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true, // an operation's URL (#/pop/set_pop) can be shared
    filter: true, // a box that narrows the list by tag
    displayRequestDuration: true,
    validatorUrl: null, // never send the document to validator.swagger.io (nor load its badge)
  });
})();
