// common.js - what every Uppy test page shares: its query parameters, a
// plain <input type=file> that hands files to Uppy, and a record of what
// Uppy reported, for tests/browser/uppy.spec.mjs to read.
//
//   ?api=http://127.0.0.1:8000   presignd (no trailing slash needed)
//   &key=KEY                     an API key, sent as Authorization: Bearer KEY
//   &golden=1                    add GoldenRetriever (resume after a reload)
'use strict';

const MiB = 1024 * 1024;

function pageParams() {
  const q = new URLSearchParams(location.search);
  return {
    api: (q.get('api') || 'http://127.0.0.1:8000').replace(/\/+$/, ''),
    key: q.get('key') || '',
    golden: q.get('golden') === '1',
  };
}

// A logger that keeps Uppy's warnings and errors where the spec can read them.
const uppyLog = [];
const pageLogger = {
  debug: () => {},
  warn: (...a) => uppyLog.push(['warn', a.map(String).join(' ')]),
  error: (...a) => uppyLog.push(['error', a.map(String).join(' ')]),
};

// GoldenRetriever keeps blobs of up to 10 MiB by default: raise that so a
// big file survives a reload (the option is passed on to its IndexedDB store).
const goldenOptions = { indexedDB: { maxFileSize: 512 * MiB, maxTotalSize: 1024 * MiB } };

function wirePage(uppy, label) {
  const events = [];
  const note = (name, detail) => events.push({ name, t: performance.now(), ...detail });
  uppy.on('file-added', (f) => note('file-added', { file: f.name, size: f.size, type: f.type }));
  uppy.on('upload-success', (f, resp) => note('upload-success', {
    file: f.name, uploadURL: resp && resp.uploadURL, body: resp && resp.body,
    s3Multipart: f.s3Multipart || null,
  }));
  uppy.on('upload-error', (f, err) => note('upload-error', {
    file: f && f.name, error: String(err && (err.message || err)),
  }));
  uppy.on('error', (err) => note('error', { error: String(err && (err.message || err)) }));
  uppy.on('restored', () => note('restored', {}));
  uppy.on('complete', (r) => note('complete', {
    successful: r.successful.length, failed: r.failed.length,
  }));

  const input = document.getElementById('files');
  input.addEventListener('change', () => {
    for (const file of input.files) {
      uppy.addFile({ name: file.name, type: file.type, data: file, source: 'Local' });
    }
    input.value = '';
  });

  window.uppy = uppy;
  window.uppyEvents = events;
  window.uppyLog = uppyLog;
  // Upload every file added so far; resolves with what Uppy said.
  window.uploadAll = async () => {
    const t0 = performance.now();
    const result = await uppy.upload();
    const ms = performance.now() - t0;
    const one = (f) => ({
      name: f.name, size: f.size, uploadURL: f.uploadURL || (f.response && f.response.uploadURL),
      error: f.error ? String(f.error) : null,
    });
    return {
      ms,
      successful: result ? result.successful.map(one) : [],
      failed: result ? result.failed.map(one) : [],
    };
  };
  // The files Uppy holds (a restored file: isRestored, isGhost without its blob).
  window.uppyFiles = () => uppy.getFiles().map((f) => ({
    name: f.name, size: f.size, isRestored: !!f.isRestored, isGhost: !!f.isGhost,
    hasData: f.data != null && f.data.size === f.size,
    s3Multipart: f.s3Multipart || null,
    progress: { uploadComplete: !!f.progress.uploadComplete, bytesUploaded: f.progress.bytesUploaded },
  }));
  document.getElementById('label').textContent = label;
  window.uppyReady = true;
}
