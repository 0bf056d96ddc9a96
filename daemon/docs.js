/*
 * docs.js - starts Swagger UI on the /docs page (a file, not an inline
 * script: the page's Content-Security-Policy allows scripts from presignd
 * only). The document comes from this presignd, and "Try it out" sends its
 * requests to the same origin: the document has no "servers", which in
 * OpenAPI 3 means "/" of where it was loaded from.
 */
(function () {
  'use strict';
  window.ui = window.SwaggerUIBundle({
    url: 'openapi.json',            // relative: works behind a path prefix too
    dom_id: '#swagger-ui',
    // BaseLayout: no top bar, whose box loads any URL the visitor types.
    layout: 'BaseLayout',
    deepLinking: true,
    // The default posts the document to a validator elsewhere for a badge.
    validatorUrl: null,
    // Options from the page's query string (?url=, ?configUrl=) would let
    // a link make this page render and call another API.
    queryConfigEnabled: false,
    // The token typed into Authorize stays in this tab's memory: not in
    // localStorage, where any later script of the origin could read it.
    persistAuthorization: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0
  });
}());
