// The Uppy example page: Uppy 6's Dashboard with @uppy/aws-s3 in Companion
// mode, presignd as the Companion server. The bytes go from the browser to
// S3; presignd signs (GET /s3/params for a form POST, POST /s3/multipart
// and a signature per part for big files).
//
// The API base URL is ?api=... (default http://127.0.0.1:8000, `make run`).
// Uppy 6 sends no headers of its own to a Companion server, so presignd
// must run without auth here (auth.mode: none, as etc/presignd.dev.yaml);
// behind authentication, use Uppy's `signRequest` option and POST /s3/sign
// with the key (see tests/browser/uppy/v6-sign.html).
// presignd must allow this page's origin (cors.allow_origins), and the
// bucket too (S3 CORS, exposing ETag: Uppy reads each part's).
'use strict';

(async function () {
  const params = new URLSearchParams(window.location.search);
  const API = (params.get('api') || 'http://127.0.0.1:8000').replace(/\/+$/, '');
  const $ = (id) => document.getElementById(id);
  $('api-url').textContent = API;
  $('plain-link').search = window.location.search;   // the same ?api= there

  function setStatus(text, isError) {
    $('status').textContent = text;
    $('status').classList.toggle('error', !!isError);
  }

  // What presignd accepts (GET /): the file types, and the largest single
  // upload; bigger files go in parts (Uppy's own threshold is 100 MiB).
  let info = null;
  const pill = $('api-state');
  try {
    const res = await fetch(API + '/');
    if (!res.ok) throw new Error('HTTP ' + res.status);
    info = await res.json();
    pill.textContent = 'presignd ' + info.version;
    pill.classList.add('ok');
  } catch (err) {
    pill.textContent = 'unreachable';
    pill.classList.add('bad');
    setStatus('Cannot reach presignd at ' + API + ': ' + err.message, true);
  }
  const maxSingle = info && info.max_file_size ? info.max_file_size : 50 * 1024 * 1024;

  const { Uppy, Dashboard, AwsS3 } = window.Uppy;
  const uppy = new Uppy({
    restrictions: info ? { allowedFileTypes: Object.keys(info.allowed_file_types) } : {},
  })
    .use(Dashboard, {
      inline: true,
      target: '#uppy',
      height: 420,
      width: '100%',
      showProgressDetails: true,
      proudlyDisplayPoweredByUppy: false,
      note: info ? 'Types: ' + Object.keys(info.allowed_file_types).join(' ') : '',
    })
    .use(AwsS3, {
      companionEndpoint: API,                         // Uppy adds /s3/...
      shouldUseMultipart: (file) => file.size > maxSingle,
    });

  uppy.on('upload-success', (file, response) => {
    const li = document.createElement('li');
    li.className = 'done';
    li.dataset.name = file.name;
    li.dataset.key = (response.body && response.body.key) || '';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    const state = document.createElement('span');
    state.className = 'state';
    state.textContent = 'stored as ' + li.dataset.key;
    li.append(name, state);
    $('uploaded').append(li);
  });
  uppy.on('upload-error', (file, err) => {
    setStatus((file ? file.name + ': ' : '') + (err && err.message ? err.message : err), true);
  });
  uppy.on('complete', (result) => {
    if (!result.failed.length) setStatus(result.successful.length + ' uploaded.');
  });
  window.uppy = uppy;   // for the browser test, and for poking around
})();
