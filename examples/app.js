// The presignd example page: upload files straight to S3 through presigned
// URLs (with progress), list them, download and delete them.
//
// The API base URL is ?api=... (default http://127.0.0.1:8000, `make run`).
// When presignd asks for credentials, the key or token typed into the page
// is sent as "Authorization: Bearer ..." to presignd only (never to S3) and
// kept in this tab's sessionStorage.
// presignd must allow this page's origin (cors.allow_origins) and the bucket
// must allow it too (S3 CORS), since the file bytes go to S3 directly.
'use strict';

(function () {
  const params = new URLSearchParams(window.location.search);
  const API = (params.get('api') || 'http://127.0.0.1:8000').replace(/\/+$/, '');

  const $ = (id) => document.getElementById(id);
  const fileInput = $('file-input');
  const uploadButton = $('upload-button');
  const uploadsList = $('uploads');
  const filesBody = $('files-body');
  const filesEmpty = $('files-empty');
  const moreButton = $('more-button');
  const statusLine = $('status');
  const dropZone = $('drop-zone');

  let pending = [];        // files picked and not uploaded yet
  let nextToken = null;    // continuation token of the file list

  $('api-url').textContent = API;
  $('uppy-link').search = window.location.search;    // the same ?api= there

  // --- helpers ------------------------------------------------------------

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle('error', !!isError);
  }

  function humanBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  // uploads/<uuid4>-report.pdf -> report.pdf
  function displayName(key) {
    const base = key.slice(key.lastIndexOf('/') + 1);
    const m = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-(.+)$/.exec(base);
    return m ? m[1] : base;
  }

  // An API error body is {"detail": "...", "error_code": "..."}.
  class ApiError extends Error {
    constructor(status, body) {
      const detail = body && body.detail ? body.detail : 'HTTP ' + status;
      super(detail);
      this.status = status;
      this.code = body && body.error_code ? body.error_code : 'http_' + status;
    }
  }

  const tokenInput = $('token-input');
  tokenInput.value = sessionStorage.getItem('presignd-token') || '';
  tokenInput.addEventListener('change', () => {
    sessionStorage.setItem('presignd-token', tokenInput.value.trim());
    refresh(false);
  });

  async function api(method, path, body) {
    const init = { method, headers: {} };
    const token = tokenInput.value.trim();
    if (token) init.headers['Authorization'] = 'Bearer ' + token;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, { detail: 'cannot reach presignd at ' + API + ' (' + e.message + ')',
                              error_code: 'unreachable' });
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // The key is one path segment per "/" part, each percent-encoded.
  function keyPath(key) {
    return key.split('/').map(encodeURIComponent).join('/');
  }

  // --- service info ---------------------------------------------------------

  async function loadInfo() {
    const pill = $('api-state');
    try {
      const info = await api('GET', '/');
      pill.textContent = (info.service || 'presignd') + (info.version ? ' ' + info.version : '');
      pill.className = 'pill ok';
      const types = info.allowed_file_types;
      const exts = Array.isArray(types) ? types : (types ? Object.keys(types) : []);
      if (exts.length) fileInput.accept = exts.join(',');
      const parts = [];
      if (exts.length) parts.push('Allowed: ' + exts.join(' '));
      if (info.max_file_size) parts.push('up to ' + humanBytes(info.max_file_size) + ' each');
      $('limits').textContent = parts.join(', ') + (parts.length ? '.' : '');
    } catch (e) {
      pill.textContent = 'unreachable';
      pill.className = 'pill bad';
      setStatus(e.message, true);
    }
  }

  // --- upload ---------------------------------------------------------------

  function pick(files) {
    pending = Array.from(files);
    uploadButton.disabled = pending.length === 0;
    setStatus(pending.length ? pending.length + ' file(s) ready to upload' : '');
  }

  function uploadRow(file) {
    const li = document.createElement('li');
    li.dataset.name = file.name;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name + ' (' + humanBytes(file.size) + ')';
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    const pct = document.createElement('span');
    pct.className = 'pct';
    pct.textContent = '0%';
    const state = document.createElement('span');
    state.className = 'state';
    state.textContent = 'asking presignd for an upload URL…';
    li.append(name, bar, pct, state);
    uploadsList.prepend(li);
    return {
      li,
      progress(p) { bar.value = p; pct.textContent = p + '%'; },
      state(text, cls) { state.textContent = text; if (cls) li.classList.add(cls); },
    };
  }

  // PUT the file to the presigned URL with XMLHttpRequest, which (unlike
  // fetch) reports upload progress.
  function putFile(grant, file, row) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(grant.method || 'PUT', grant.presigned_url);
      // Exactly the headers presignd signed: S3 answers 403 to any other
      // Content-Type. Content-Length is the one a page may not set; the
      // browser sends the file's size, which is what was signed.
      const headers = grant.headers || { 'Content-Type': grant.content_type };
      for (const [name, value] of Object.entries(headers)) {
        if (name.toLowerCase() === 'content-length') continue;
        xhr.setRequestHeader(name, value);
      }
      xhr.upload.addEventListener('progress', (ev) => {
        if (ev.lengthComputable) row.progress(Math.floor((ev.loaded / ev.total) * 100));
      });
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve({ etag: (xhr.getResponseHeader('ETag') || '').replace(/"/g, '') });
        } else {
          const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText || '');
          reject(new Error('S3 refused the upload: ' + xhr.status + (code ? ' ' + code[1] : '')));
        }
      };
      xhr.onerror = () => reject(new Error('the upload to S3 failed (network or CORS)'));
      xhr.onabort = () => reject(new Error('upload aborted'));
      xhr.send(file);
    });
  }

  async function uploadOne(file) {
    const row = uploadRow(file);
    try {
      // The content type is left to presignd: it decides it from the
      // extension and returns it among the headers to send.
      const grant = await api('POST', '/upload-url', { filename: file.name, size: file.size });
      row.li.dataset.key = grant.file_key;
      row.state('uploading to S3…');
      const res = await putFile(grant, file, row);
      row.progress(100);
      // Before treating the file as stored (an app would record it now):
      // presignd checks with S3 that it is there, with the signed size.
      const done = await api('POST', '/upload-complete', { file_key: grant.file_key, size: file.size });
      if (!done.matches) throw new Error('S3 holds ' + done.size + ' bytes, not ' + file.size);
      const etag = done.etag || res.etag;
      row.state('uploaded as ' + grant.file_key + (etag ? ' (ETag ' + etag + ')' : ''), 'done');
      return true;
    } catch (e) {
      row.state('failed: ' + e.message + (e.code ? ' [' + e.code + ']' : ''), 'failed');
      return false;
    }
  }

  async function uploadAll() {
    const files = pending;
    pending = [];
    fileInput.value = '';
    uploadButton.disabled = true;
    setStatus('uploading ' + files.length + ' file(s)…');
    // A few at a time: each is a direct connection to S3.
    const results = [];
    const queue = files.slice();
    const workers = Array.from({ length: Math.min(3, queue.length) }, async () => {
      while (queue.length) results.push(await uploadOne(queue.shift()));
    });
    await Promise.all(workers);
    const ok = results.filter(Boolean).length;
    setStatus(ok + ' of ' + files.length + ' file(s) uploaded', ok !== files.length);
    await refresh();
  }

  // --- list, download, delete -----------------------------------------------

  function fileRow(f) {
    const tr = document.createElement('tr');
    tr.dataset.key = f.key;
    const name = document.createElement('td');
    name.className = 'name';
    name.textContent = displayName(f.key);
    name.title = f.key;
    const size = document.createElement('td');
    size.className = 'num';
    size.textContent = humanBytes(f.size);
    size.title = f.size + ' bytes';
    const when = document.createElement('td');
    when.textContent = f.last_modified ? new Date(f.last_modified).toLocaleString() : '';
    const actions = document.createElement('td');
    actions.className = 'actions';
    const dl = document.createElement('button');
    dl.type = 'button';
    dl.className = 'secondary download';
    dl.textContent = 'Download';
    dl.addEventListener('click', () => download(f.key, dl));
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.className = 'danger delete';
    rm.textContent = 'Delete';
    rm.addEventListener('click', () => remove(f.key, rm));
    actions.append(dl, rm);
    tr.append(name, size, when, actions);
    return tr;
  }

  async function refresh(more) {
    try {
      let path = '/files?max_keys=100';
      if (more && nextToken) path += '&continuation_token=' + encodeURIComponent(nextToken);
      const page = await api('GET', path);
      if (!more) filesBody.replaceChildren();
      for (const f of page.files) filesBody.append(fileRow(f));
      nextToken = page.is_truncated ? page.next_continuation_token : null;
      moreButton.hidden = !nextToken;
      filesEmpty.hidden = filesBody.children.length > 0;
    } catch (e) {
      setStatus('cannot list files: ' + e.message, true);
    }
  }

  // Fetch the bytes through the presigned GET URL and save them under the
  // original name; the link also works on its own until it expires.
  async function download(key, button) {
    button.disabled = true;
    try {
      const grant = await api('POST', '/download-url', { file_key: key });
      const res = await fetch(grant.presigned_url, { headers: grant.headers || {} });
      if (!res.ok) throw new Error('S3 refused the download: ' + res.status);
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = displayName(key);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      setStatus('downloaded ' + displayName(key) + ' (' + humanBytes(blob.size) + ')');
    } catch (e) {
      setStatus('download failed: ' + e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async function remove(key, button) {
    button.disabled = true;
    try {
      const res = await api('DELETE', '/files/' + keyPath(key));
      setStatus(res.message || 'deleted ' + key);
      await refresh();
    } catch (e) {
      button.disabled = false;
      setStatus('delete failed: ' + e.message, true);
    }
  }

  // --- wiring ---------------------------------------------------------------

  fileInput.addEventListener('change', () => pick(fileInput.files));
  uploadButton.addEventListener('click', uploadAll);
  $('refresh-button').addEventListener('click', () => refresh());
  moreButton.addEventListener('click', () => refresh(true));

  dropZone.addEventListener('dragover', (ev) => { ev.preventDefault(); dropZone.classList.add('over'); });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
  dropZone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    dropZone.classList.remove('over');
    pick(ev.dataTransfer.files);
  });

  loadInfo();
  refresh();
})();
