/*
 * redoc.js - prepares and starts ReDoc on the /redoc page (a file, not an
 * inline script: the page's Content-Security-Policy allows scripts from
 * presignd only). Loaded before ReDoc's bundle.
 */
(function () {
  'use strict';

  /*
   * ReDoc 2 shows Redocly's logo in its menu with an <img> whose src is on
   * Redocly's CDN, and has no option to leave it out. The policy would
   * block the request, but the browser would still try and report a
   * violation, and the page makes no request outside presignd's origin.
   * So an image of another origin gets no src at all and is hidden; the
   * credit stays as text. ReDoc's React sets the src property; setAttribute
   * is covered too, the other way to the same thing.
   */
  function foreign(value) {
    var url = new URL(String(value), document.baseURI);
    return url.protocol !== 'data:' && url.origin !== location.origin;
  }
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
  Object.defineProperty(HTMLImageElement.prototype, 'src', {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      if (foreign(value)) {
        this.hidden = true;
        return;
      }
      src.set.call(this, value);
    }
  });
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src' &&
        foreign(value)) {
      this.hidden = true;
      return;
    }
    return setAttribute.call(this, name, value);
  };

  document.addEventListener('DOMContentLoaded', function () {
    window.Redoc.init('openapi.json', {
      // The search runs in a Web Worker made from a blob: of ReDoc's own
      // code (hence worker-src blob: in the policy).
      expandResponses: '200'
    }, document.getElementById('redoc'));
  });
}());
