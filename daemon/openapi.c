/*
 * openapi.c - the OpenAPI document and the /docs page (see openapi.h).
 *
 * The document is kept here as one JSON template, parsed with json-c at
 * startup and completed with what depends on the config, so the text the
 * clients read always matches the limits the handlers enforce. The /docs
 * page renders it with a small inline script: the daemon must be usable on
 * hosts that cannot reach a CDN, so nothing is loaded from elsewhere.
 */
#include "openapi.h"

#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char template_json[] =
    "{\n"
    "  \"openapi\": \"3.0.3\",\n"
    "  \"info\": {\n"
    "    \"title\": \"presignd\",\n"
    "    \"version\": \"\",\n"
    "    \"description\": \"Hands out temporary presigned S3 URLs so that clients upload and download files directly to and from S3. Every error is {\\\"detail\\\", \\\"error_code\\\"}.\",\n"
    "    \"license\": {\"name\": \"MIT\"}\n"
    "  },\n"
    "  \"paths\": {\n"
    "    \"/\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"Service information\",\n"
    "        \"operationId\": \"root\",\n"
    "        \"tags\": [\"service\"],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Service name, version, endpoints and allowed file types\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/ServiceInfo\"}}}}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/upload-url\": {\n"
    "      \"post\": {\n"
    "        \"summary\": \"Presigned URL to upload a file with PUT\",\n"
    "        \"description\": \"The key is uploads.prefix + uuid4 + '-' + the sanitized filename. The client must PUT with exactly the returned headers: Content-Type (and Content-Length when size was given) are part of the signature.\",\n"
    "        \"operationId\": \"createUploadUrl\",\n"
    "        \"tags\": [\"files\"],\n"
    "        \"parameters\": [{\"$ref\": \"#/components/parameters/RequestId\"}],\n"
    "        \"requestBody\": {\"required\": true,\n"
    "                        \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/UploadRequest\"}}}},\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Presigned PUT URL\",\n"
    "                  \"headers\": {\"X-Request-Id\": {\"$ref\": \"#/components/headers/RequestId\"}},\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/UploadResponse\"}}}},\n"
    "          \"400\": {\"$ref\": \"#/components/responses/BadRequest\"},\n"
    "          \"405\": {\"$ref\": \"#/components/responses/MethodNotAllowed\"},\n"
    "          \"413\": {\"$ref\": \"#/components/responses/TooLarge\"},\n"
    "          \"415\": {\"$ref\": \"#/components/responses/UnsupportedMediaType\"},\n"
    "          \"503\": {\"$ref\": \"#/components/responses/Unavailable\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/download-url\": {\n"
    "      \"post\": {\n"
    "        \"summary\": \"Presigned URL to download a file with GET\",\n"
    "        \"description\": \"The object is checked with S3 HEAD first: 404 when it does not exist.\",\n"
    "        \"operationId\": \"createDownloadUrl\",\n"
    "        \"tags\": [\"files\"],\n"
    "        \"parameters\": [{\"$ref\": \"#/components/parameters/RequestId\"}],\n"
    "        \"requestBody\": {\"required\": true,\n"
    "                        \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/DownloadRequest\"}}}},\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Presigned GET URL\",\n"
    "                  \"headers\": {\"X-Request-Id\": {\"$ref\": \"#/components/headers/RequestId\"}},\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/DownloadResponse\"}}}},\n"
    "          \"400\": {\"$ref\": \"#/components/responses/BadRequest\"},\n"
    "          \"404\": {\"$ref\": \"#/components/responses/NotFound\"},\n"
    "          \"405\": {\"$ref\": \"#/components/responses/MethodNotAllowed\"},\n"
    "          \"413\": {\"$ref\": \"#/components/responses/TooLarge\"},\n"
    "          \"415\": {\"$ref\": \"#/components/responses/UnsupportedMediaType\"},\n"
    "          \"502\": {\"$ref\": \"#/components/responses/S3Error\"},\n"
    "          \"503\": {\"$ref\": \"#/components/responses/Unavailable\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/files\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"List files\",\n"
    "        \"operationId\": \"listFiles\",\n"
    "        \"tags\": [\"files\"],\n"
    "        \"parameters\": [\n"
    "          {\"$ref\": \"#/components/parameters/RequestId\"},\n"
    "          {\"name\": \"prefix\", \"in\": \"query\", \"required\": false,\n"
    "           \"description\": \"Must start with uploads.prefix (the default).\",\n"
    "           \"schema\": {\"type\": \"string\", \"default\": \"\"}},\n"
    "          {\"name\": \"max_keys\", \"in\": \"query\", \"required\": false,\n"
    "           \"schema\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000, \"default\": 100}},\n"
    "          {\"name\": \"continuation_token\", \"in\": \"query\", \"required\": false,\n"
    "           \"description\": \"next_continuation_token of the previous page.\",\n"
    "           \"schema\": {\"type\": \"string\"}}\n"
    "        ],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"One page of files\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/FileList\"}}}},\n"
    "          \"400\": {\"$ref\": \"#/components/responses/BadRequest\"},\n"
    "          \"405\": {\"$ref\": \"#/components/responses/MethodNotAllowed\"},\n"
    "          \"502\": {\"$ref\": \"#/components/responses/S3Error\"},\n"
    "          \"503\": {\"$ref\": \"#/components/responses/Unavailable\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/files/{file_key}\": {\n"
    "      \"delete\": {\n"
    "        \"summary\": \"Delete a file\",\n"
    "        \"description\": \"The key may contain '/' and is percent-decoded. Deleting is idempotent, as in S3: a key that does not exist also gives 200.\",\n"
    "        \"operationId\": \"deleteFile\",\n"
    "        \"tags\": [\"files\"],\n"
    "        \"parameters\": [\n"
    "          {\"$ref\": \"#/components/parameters/RequestId\"},\n"
    "          {\"name\": \"file_key\", \"in\": \"path\", \"required\": true,\n"
    "           \"description\": \"The object key, inside uploads.prefix.\",\n"
    "           \"schema\": {\"type\": \"string\"}}\n"
    "        ],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Deleted\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/DeleteResponse\"}}}},\n"
    "          \"400\": {\"$ref\": \"#/components/responses/BadRequest\"},\n"
    "          \"405\": {\"$ref\": \"#/components/responses/MethodNotAllowed\"},\n"
    "          \"502\": {\"$ref\": \"#/components/responses/S3Error\"},\n"
    "          \"503\": {\"$ref\": \"#/components/responses/Unavailable\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/health\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"Health check (S3 HeadBucket, cached briefly)\",\n"
    "        \"operationId\": \"health\",\n"
    "        \"tags\": [\"service\"],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Healthy\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Healthy\"}}}},\n"
    "          \"503\": {\"description\": \"S3 cannot be reached or refuses us\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Unhealthy\"}}}}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/metrics\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"Prometheus metrics (text format 0.0.4), the same whichever worker answers\",\n"
    "        \"operationId\": \"metrics\",\n"
    "        \"tags\": [\"service\"],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"Exposition\", \"content\": {\"text/plain\": {\"schema\": {\"type\": \"string\"}}}},\n"
    "          \"404\": {\"$ref\": \"#/components/responses/NotFound\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/openapi.json\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"This document\",\n"
    "        \"operationId\": \"openapi\",\n"
    "        \"tags\": [\"service\"],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"OpenAPI 3 document\", \"content\": {\"application/json\": {\"schema\": {\"type\": \"object\"}}}}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"/docs\": {\n"
    "      \"get\": {\n"
    "        \"summary\": \"HTML page that renders this document\",\n"
    "        \"operationId\": \"docs\",\n"
    "        \"tags\": [\"service\"],\n"
    "        \"responses\": {\n"
    "          \"200\": {\"description\": \"HTML\", \"content\": {\"text/html\": {\"schema\": {\"type\": \"string\"}}}}\n"
    "        }\n"
    "      }\n"
    "    }\n"
    "  },\n"
    "  \"components\": {\n"
    "    \"parameters\": {\n"
    "      \"RequestId\": {\"name\": \"X-Request-Id\", \"in\": \"header\", \"required\": false,\n"
    "                    \"description\": \"Echoed back when it is 1..128 characters of [A-Za-z0-9._-]; otherwise a new uuid4 is returned.\",\n"
    "                    \"schema\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9._-]{1,128}$\"}}\n"
    "    },\n"
    "    \"headers\": {\n"
    "      \"RequestId\": {\"description\": \"The request id (also in the access log).\", \"schema\": {\"type\": \"string\"}}\n"
    "    },\n"
    "    \"schemas\": {\n"
    "      \"Error\": {\n"
    "        \"type\": \"object\", \"required\": [\"detail\", \"error_code\"], \"additionalProperties\": false,\n"
    "        \"properties\": {\n"
    "          \"detail\": {\"type\": \"string\", \"description\": \"Human-readable message\"},\n"
    "          \"error_code\": {\"type\": \"string\", \"description\": \"Machine-readable code\",\n"
    "                         \"enum\": [\"invalid_json\", \"missing_field\", \"invalid_field\", \"unknown_field\",\n"
    "                                  \"file_type_not_allowed\", \"content_type_mismatch\", \"invalid_filename\",\n"
    "                                  \"file_too_large\", \"invalid_file_key\", \"invalid_prefix\",\n"
    "                                  \"payload_too_large\", \"unsupported_media_type\", \"not_found\",\n"
    "                                  \"file_not_found\", \"method_not_allowed\", \"cors_origin_not_allowed\",\n"
    "                                  \"s3_error\", \"s3_unavailable\", \"no_credentials\", \"presign_failed\",\n"
    "                                  \"internal_error\"]}\n"
    "        }\n"
    "      },\n"
    "      \"UploadRequest\": {\n"
    "        \"type\": \"object\", \"required\": [\"filename\"], \"additionalProperties\": false,\n"
    "        \"properties\": {\n"
    "          \"filename\": {\"type\": \"string\", \"minLength\": 1, \"example\": \"report.pdf\",\n"
    "                       \"description\": \"Its extension must be one of the allowed file types.\"},\n"
    "          \"content_type\": {\"type\": \"string\", \"nullable\": true, \"example\": \"application/pdf\",\n"
    "                           \"description\": \"Optional; when given it must be the type configured for the extension (case-insensitive).\"},\n"
    "          \"size\": {\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 1, \"maximum\": 1,\n"
    "                   \"description\": \"Optional exact size in bytes; when given, Content-Length is signed too.\"}\n"
    "        }\n"
    "      },\n"
    "      \"UploadResponse\": {\n"
    "        \"type\": \"object\",\n"
    "        \"required\": [\"presigned_url\", \"expires_in\", \"file_key\", \"method\", \"headers\", \"content_type\", \"max_file_size\"],\n"
    "        \"properties\": {\n"
    "          \"presigned_url\": {\"type\": \"string\", \"format\": \"uri\"},\n"
    "          \"expires_in\": {\"type\": \"integer\", \"description\": \"Seconds the URL is valid\"},\n"
    "          \"file_key\": {\"type\": \"string\"},\n"
    "          \"method\": {\"type\": \"string\", \"enum\": [\"PUT\"]},\n"
    "          \"headers\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"},\n"
    "                      \"description\": \"Headers the PUT must carry exactly\"},\n"
    "          \"content_type\": {\"type\": \"string\"},\n"
    "          \"max_file_size\": {\"type\": \"integer\", \"format\": \"int64\"}\n"
    "        }\n"
    "      },\n"
    "      \"DownloadRequest\": {\n"
    "        \"type\": \"object\", \"required\": [\"file_key\"], \"additionalProperties\": false,\n"
    "        \"properties\": {\"file_key\": {\"type\": \"string\", \"minLength\": 1, \"example\": \"\"}}\n"
    "      },\n"
    "      \"DownloadResponse\": {\n"
    "        \"type\": \"object\",\n"
    "        \"required\": [\"presigned_url\", \"expires_in\", \"file_key\", \"method\", \"headers\"],\n"
    "        \"properties\": {\n"
    "          \"presigned_url\": {\"type\": \"string\", \"format\": \"uri\"},\n"
    "          \"expires_in\": {\"type\": \"integer\"},\n"
    "          \"file_key\": {\"type\": \"string\"},\n"
    "          \"method\": {\"type\": \"string\", \"enum\": [\"GET\"]},\n"
    "          \"headers\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}},\n"
    "          \"size\": {\"type\": \"integer\", \"format\": \"int64\"},\n"
    "          \"content_type\": {\"type\": \"string\", \"nullable\": true},\n"
    "          \"last_modified\": {\"type\": \"string\", \"format\": \"date-time\", \"nullable\": true},\n"
    "          \"etag\": {\"type\": \"string\", \"nullable\": true}\n"
    "        }\n"
    "      },\n"
    "      \"FileInfo\": {\n"
    "        \"type\": \"object\", \"required\": [\"key\", \"size\", \"last_modified\", \"etag\"],\n"
    "        \"properties\": {\n"
    "          \"key\": {\"type\": \"string\"},\n"
    "          \"size\": {\"type\": \"integer\", \"format\": \"int64\"},\n"
    "          \"last_modified\": {\"type\": \"string\", \"format\": \"date-time\"},\n"
    "          \"etag\": {\"type\": \"string\"}\n"
    "        }\n"
    "      },\n"
    "      \"FileList\": {\n"
    "        \"type\": \"object\", \"required\": [\"files\", \"count\", \"is_truncated\", \"next_continuation_token\"],\n"
    "        \"properties\": {\n"
    "          \"files\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/FileInfo\"}},\n"
    "          \"count\": {\"type\": \"integer\"},\n"
    "          \"is_truncated\": {\"type\": \"boolean\"},\n"
    "          \"next_continuation_token\": {\"type\": \"string\", \"nullable\": true}\n"
    "        }\n"
    "      },\n"
    "      \"DeleteResponse\": {\n"
    "        \"type\": \"object\", \"required\": [\"message\"],\n"
    "        \"properties\": {\"message\": {\"type\": \"string\", \"example\": \"\"}}\n"
    "      },\n"
    "      \"Healthy\": {\n"
    "        \"type\": \"object\", \"required\": [\"status\", \"s3_connection\", \"timestamp\", \"version\"],\n"
    "        \"properties\": {\n"
    "          \"status\": {\"type\": \"string\", \"enum\": [\"healthy\"]},\n"
    "          \"s3_connection\": {\"type\": \"string\", \"enum\": [\"ok\"]},\n"
    "          \"timestamp\": {\"type\": \"string\", \"format\": \"date-time\"},\n"
    "          \"version\": {\"type\": \"string\"}\n"
    "        }\n"
    "      },\n"
    "      \"Unhealthy\": {\n"
    "        \"type\": \"object\", \"required\": [\"status\", \"s3_connection\", \"detail\", \"error_code\", \"timestamp\"],\n"
    "        \"properties\": {\n"
    "          \"status\": {\"type\": \"string\", \"enum\": [\"unhealthy\"]},\n"
    "          \"s3_connection\": {\"type\": \"string\", \"enum\": [\"error\"]},\n"
    "          \"detail\": {\"type\": \"string\"},\n"
    "          \"error_code\": {\"type\": \"string\"},\n"
    "          \"timestamp\": {\"type\": \"string\", \"format\": \"date-time\"},\n"
    "          \"version\": {\"type\": \"string\"}\n"
    "        }\n"
    "      },\n"
    "      \"ServiceInfo\": {\n"
    "        \"type\": \"object\",\n"
    "        \"required\": [\"service\", \"version\", \"endpoints\", \"allowed_file_types\", \"max_file_size\", \"upload_expires\"],\n"
    "        \"properties\": {\n"
    "          \"service\": {\"type\": \"string\"},\n"
    "          \"version\": {\"type\": \"string\"},\n"
    "          \"endpoints\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},\n"
    "          \"allowed_file_types\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}},\n"
    "          \"max_file_size\": {\"type\": \"integer\", \"format\": \"int64\"},\n"
    "          \"upload_expires\": {\"type\": \"integer\"}\n"
    "        }\n"
    "      }\n"
    "    },\n"
    "    \"responses\": {\n"
    "      \"BadRequest\": {\"description\": \"Malformed JSON, missing, unknown or invalid field, key outside the prefix\",\n"
    "                     \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"NotFound\": {\"description\": \"No such object or route\",\n"
    "                   \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"MethodNotAllowed\": {\"description\": \"Wrong method (see the Allow header)\",\n"
    "                           \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"TooLarge\": {\"description\": \"Request body too large, or the declared file size above max_file_size\",\n"
    "                   \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"UnsupportedMediaType\": {\"description\": \"Content-Type present and not application/json\",\n"
    "                               \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"S3Error\": {\"description\": \"S3 answered with an error\",\n"
    "                  \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}},\n"
    "      \"Unavailable\": {\"description\": \"S3 cannot be reached, or no credentials\",\n"
    "                      \"content\": {\"application/json\": {\"schema\": {\"$ref\": \"#/components/schemas/Error\"}}}}\n"
    "    }\n"
    "  }\n"
    "}\n";

static const char docs_html[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>presignd API</title>\n"
    "<style>\n"
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\n"
    "header{background:#1d2330;color:#fff;padding:16px 24px}\n"
    "header h1{margin:0;font-size:22px}\n"
    "header p{margin:6px 0 0;color:#c8cdd8;font-size:14px}\n"
    "main{max-width:1000px;margin:0 auto;padding:16px 24px 48px}\n"
    ".op{background:#fff;border:1px solid #d9dde5;border-radius:6px;margin:12px 0}\n"
    ".op>summary{cursor:pointer;padding:10px 14px;display:flex;gap:12px;align-items:center;list-style:none}\n"
    ".op>summary::-webkit-details-marker{display:none}\n"
    ".m{font-weight:700;font-size:12px;color:#fff;border-radius:4px;padding:4px 8px;min-width:56px;text-align:center}\n"
    ".get{background:#2f7dd1}.post{background:#2b9b5b}.delete{background:#c73c3c}.put{background:#c98a1b}\n"
    ".path{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}\n"
    ".sum{color:#5b6372}\n"
    ".body{padding:0 16px 14px;border-top:1px solid #eceef2}\n"
    "h3{font-size:14px;margin:14px 0 6px}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "td,th{border:1px solid #e3e6ec;padding:5px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f1f3f6}\n"
    "code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}\n"
    "pre{background:#f1f3f6;padding:8px;border-radius:4px;overflow:auto}\n"
    ".err{color:#c73c3c}\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<header><h1 id=\"title\">presignd API</h1><p id=\"desc\">Loading <a href=\"openapi.json\" style=\"color:#fff\">openapi.json</a>&hellip;</p></header>\n"
    "<main id=\"ops\"></main>\n"
    "<noscript><p style=\"padding:24px\">This page renders <a href=\"openapi.json\">openapi.json</a> with JavaScript.</p></noscript>\n"
    "<script>\n"
    "(function () {\n"
    "  \"use strict\";\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  function resolve(spec, obj) {\n"
    "    var seen = 0;\n"
    "    while (obj && obj.$ref && seen++ < 16) {\n"
    "      var parts = obj.$ref.replace(/^#\\//, \"\").split(\"/\"), cur = spec;\n"
    "      for (var i = 0; i < parts.length && cur; i++) cur = cur[parts[i]];\n"
    "      obj = cur;\n"
    "    }\n"
    "    return obj || {};\n"
    "  }\n"
    "  function typeOf(spec, s) {\n"
    "    if (!s) return \"\";\n"
    "    if (s.$ref) return s.$ref.split(\"/\").pop();\n"
    "    s = resolve(spec, s);\n"
    "    if (s.type === \"array\") return \"array of \" + typeOf(spec, s.items);\n"
    "    var t = s.type || \"object\";\n"
    "    if (s.format) t += \" (\" + s.format + \")\";\n"
    "    if (s.nullable) t += \", nullable\";\n"
    "    return t;\n"
    "  }\n"
    "  function constraints(s) {\n"
    "    var c = [];\n"
    "    if (s.minimum !== undefined) c.push(\"min \" + s.minimum);\n"
    "    if (s.maximum !== undefined) c.push(\"max \" + s.maximum);\n"
    "    if (s.minLength !== undefined) c.push(\"minLength \" + s.minLength);\n"
    "    if (s.pattern) c.push(\"pattern \" + s.pattern);\n"
    "    if (s[\"enum\"]) c.push(\"one of: \" + s[\"enum\"].join(\", \"));\n"
    "    if (s[\"default\"] !== undefined) c.push(\"default \" + JSON.stringify(s[\"default\"]));\n"
    "    return c.join(\"; \");\n"
    "  }\n"
    "  function schemaTable(spec, schema) {\n"
    "    var s = resolve(spec, schema), wrap = el(\"div\");\n"
    "    if (schema && schema.$ref) wrap.appendChild(el(\"div\", \"sum\", schema.$ref.split(\"/\").pop()));\n"
    "    if (!s.properties) { wrap.appendChild(el(\"code\", null, typeOf(spec, schema))); return wrap; }\n"
    "    var t = el(\"table\"), h = el(\"tr\");\n"
    "    [\"field\", \"type\", \"required\", \"notes\"].forEach(function (x) { h.appendChild(el(\"th\", null, x)); });\n"
    "    t.appendChild(h);\n"
    "    var req = s.required || [];\n"
    "    Object.keys(s.properties).forEach(function (k) {\n"
    "      var p = resolve(spec, s.properties[k]), r = el(\"tr\");\n"
    "      r.appendChild(el(\"td\")).appendChild(el(\"code\", null, k));\n"
    "      r.appendChild(el(\"td\", null, typeOf(spec, s.properties[k])));\n"
    "      r.appendChild(el(\"td\", null, req.indexOf(k) >= 0 ? \"yes\" : \"\"));\n"
    "      var notes = [p.description, constraints(p)].filter(Boolean).join(\" \\u2014 \");\n"
    "      r.appendChild(el(\"td\", null, notes));\n"
    "      t.appendChild(r);\n"
    "    });\n"
    "    wrap.appendChild(t);\n"
    "    if (s.additionalProperties === false) wrap.appendChild(el(\"div\", \"sum\", \"Other fields are refused.\"));\n"
    "    return wrap;\n"
    "  }\n"
    "  function render(spec) {\n"
    "    document.title = (spec.info.title || \"API\") + \" \" + (spec.info.version || \"\");\n"
    "    document.getElementById(\"title\").textContent = (spec.info.title || \"API\") + \" \" + (spec.info.version || \"\");\n"
    "    var desc = document.getElementById(\"desc\");\n"
    "    desc.textContent = spec.info.description || \"\";\n"
    "    var main = document.getElementById(\"ops\");\n"
    "    var ext = spec.info[\"x-allowed-file-types\"];\n"
    "    if (ext) {\n"
    "      var d = el(\"details\", \"op\"), s = el(\"summary\");\n"
    "      s.appendChild(el(\"span\", \"path\", \"Allowed file types\"));\n"
    "      d.appendChild(s);\n"
    "      var b = el(\"div\", \"body\"), t = el(\"table\"), h = el(\"tr\");\n"
    "      h.appendChild(el(\"th\", null, \"extension\")); h.appendChild(el(\"th\", null, \"Content-Type\"));\n"
    "      t.appendChild(h);\n"
    "      Object.keys(ext).forEach(function (k) {\n"
    "        var r = el(\"tr\"); r.appendChild(el(\"td\", null, k)); r.appendChild(el(\"td\", null, ext[k])); t.appendChild(r);\n"
    "      });\n"
    "      b.appendChild(t); d.appendChild(b); main.appendChild(d);\n"
    "    }\n"
    "    Object.keys(spec.paths).forEach(function (path) {\n"
    "      var item = spec.paths[path];\n"
    "      [\"get\", \"post\", \"put\", \"delete\", \"patch\"].forEach(function (method) {\n"
    "        var op = item[method];\n"
    "        if (!op) return;\n"
    "        var d = el(\"details\", \"op\"), s = el(\"summary\");\n"
    "        s.appendChild(el(\"span\", \"m \" + method, method.toUpperCase()));\n"
    "        s.appendChild(el(\"span\", \"path\", path));\n"
    "        s.appendChild(el(\"span\", \"sum\", op.summary || \"\"));\n"
    "        d.appendChild(s);\n"
    "        var b = el(\"div\", \"body\");\n"
    "        if (op.description) b.appendChild(el(\"p\", null, op.description));\n"
    "        var params = (op.parameters || []).map(function (p) { return resolve(spec, p); });\n"
    "        if (params.length) {\n"
    "          b.appendChild(el(\"h3\", null, \"Parameters\"));\n"
    "          var t = el(\"table\"), h = el(\"tr\");\n"
    "          [\"name\", \"in\", \"type\", \"required\", \"notes\"].forEach(function (x) { h.appendChild(el(\"th\", null, x)); });\n"
    "          t.appendChild(h);\n"
    "          params.forEach(function (p) {\n"
    "            var r = el(\"tr\");\n"
    "            r.appendChild(el(\"td\")).appendChild(el(\"code\", null, p.name));\n"
    "            r.appendChild(el(\"td\", null, p[\"in\"]));\n"
    "            r.appendChild(el(\"td\", null, typeOf(spec, p.schema)));\n"
    "            r.appendChild(el(\"td\", null, p.required ? \"yes\" : \"\"));\n"
    "            r.appendChild(el(\"td\", null, [p.description, constraints(resolve(spec, p.schema))].filter(Boolean).join(\" \\u2014 \")));\n"
    "            t.appendChild(r);\n"
    "          });\n"
    "          b.appendChild(t);\n"
    "        }\n"
    "        if (op.requestBody) {\n"
    "          var rb = resolve(spec, op.requestBody), ct = Object.keys(rb.content || {})[0];\n"
    "          b.appendChild(el(\"h3\", null, \"Request body (\" + ct + \")\"));\n"
    "          b.appendChild(schemaTable(spec, rb.content[ct].schema));\n"
    "        }\n"
    "        b.appendChild(el(\"h3\", null, \"Responses\"));\n"
    "        Object.keys(op.responses || {}).forEach(function (code) {\n"
    "          var r = resolve(spec, op.responses[code]);\n"
    "          var p = el(\"p\"); p.appendChild(el(\"strong\", null, code + \" \")); p.appendChild(document.createTextNode(r.description || \"\"));\n"
    "          b.appendChild(p);\n"
    "          var c = r.content && Object.keys(r.content)[0];\n"
    "          if (c && r.content[c].schema) b.appendChild(schemaTable(spec, r.content[c].schema));\n"
    "        });\n"
    "        d.appendChild(b);\n"
    "        main.appendChild(d);\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "  var xhr = new XMLHttpRequest();\n"
    "  xhr.open(\"GET\", \"openapi.json\");\n"
    "  xhr.onload = function () {\n"
    "    try { render(JSON.parse(xhr.responseText)); }\n"
    "    catch (e) { var p = document.getElementById(\"desc\"); p.textContent = \"Cannot render openapi.json: \" + e; p.className = \"err\"; }\n"
    "  };\n"
    "  xhr.onerror = function () { document.getElementById(\"desc\").textContent = \"Cannot load openapi.json\"; };\n"
    "  xhr.send();\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* The object at the '|'-separated PATH below ROOT, or NULL ('|' because
 * the names of OpenAPI paths contain '/'). */
static struct json_object *walk(struct json_object *root, const char *path)
{
    struct json_object *cur = root;
    char part[128];

    while (cur && *path) {
        size_t n = strcspn(path, "|");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        struct json_object *next = NULL;
        if (!json_object_object_get_ex(cur, part, &next))
            return NULL;
        cur = next;
        path += n;
        if (*path == '|')
            path++;
    }
    return cur;
}

static int set_at(struct json_object *root, const char *path, const char *field,
                  struct json_object *val)
{
    struct json_object *obj = walk(root, path);

    if (!obj || !json_object_is_type(obj, json_type_object) || !val) {
        json_object_put(val);
        return -1;
    }
    return json_object_object_add(obj, field, val);
}

char *openapi_build(const struct cfg *cfg, const char *version, size_t *len)
{
    struct json_object *root = json_tokener_parse(template_json);
    struct json_object *types;
    char example[1024];
    int rc = 0;

    if (!root)
        return NULL;

    rc |= set_at(root, "info", "version", json_object_new_string(version));
    types = json_object_new_object();
    for (size_t i = 0; types && i < cfg->n_types; i++)
        json_object_object_add(types, cfg->types[i].ext,
                               json_object_new_string(cfg->types[i].type));
    rc |= set_at(root, "info", "x-allowed-file-types", types);
    rc |= set_at(root, "info", "x-max-file-size",
                 json_object_new_int64(cfg->max_file_size));
    rc |= set_at(root, "info", "x-upload-expires", json_object_new_int(cfg->expires));

    rc |= set_at(root, "components|schemas|UploadRequest|properties|size", "maximum",
                 json_object_new_int64(cfg->max_file_size));

    /* Allowed extensions as the description of filename, so a generated
     * client shows them where the field is filled in. */
    size_t cap = 128;
    for (size_t i = 0; i < cfg->n_types; i++)
        cap += strlen(cfg->types[i].ext) + 2;
    char *desc = malloc(cap);
    if (desc) {
        size_t pos = (size_t)snprintf(desc, cap, "Its extension must be one of:");
        for (size_t i = 0; i < cfg->n_types && pos < cap; i++)
            pos += (size_t)snprintf(desc + pos, cap - pos, "%s%s", i ? ", " : " ",
                                    cfg->types[i].ext);
        rc |= set_at(root, "components|schemas|UploadRequest|properties|filename",
                     "description", json_object_new_string(desc));
        free(desc);
    }

    /* The list default and the examples show the configured prefix. */
    struct json_object *params = walk(root, "paths|/files|get|parameters");
    for (size_t i = 0; params && i < json_object_array_length(params); i++) {
        struct json_object *p = json_object_array_get_idx(params, i), *name, *schema;
        if (json_object_object_get_ex(p, "name", &name) &&
            strcmp(json_object_get_string(name), "prefix") == 0 &&
            json_object_object_get_ex(p, "schema", &schema))
            json_object_object_add(schema, "default", json_object_new_string(cfg->prefix));
    }
    snprintf(example, sizeof example, "%s0b7c2a58-7f8e-4c57-9a1d-2f6f8f0e9d11-report.pdf",
             cfg->prefix);
    rc |= set_at(root, "components|schemas|DownloadRequest|properties|file_key",
                 "example", json_object_new_string(example));
    char msg[1100];
    snprintf(msg, sizeof msg, "File %s deleted successfully", example);
    rc |= set_at(root, "components|schemas|DeleteResponse|properties|message",
                 "example", json_object_new_string(msg));

    char *out = NULL;
    if (rc == 0) {
        size_t n = 0;
        const char *s = json_object_to_json_string_length(
            root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        out = s ? malloc(n + 1) : NULL;
        if (out) {
            memcpy(out, s, n + 1);
            *len = n;
        }
    }
    json_object_put(root);
    return out;
}

const char *openapi_docs_html(size_t *len)
{
    *len = sizeof docs_html - 1;
    return docs_html;
}
