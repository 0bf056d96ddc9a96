/*
 * creds.h - AWS credentials: the chain presignd looks them up in, and the
 * pieces of the EC2 instance-metadata (IMDSv2) source that do no I/O.
 *
 * Order (as the AWS SDKs): the config file (s3.access_key_id...), the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN),
 * the shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials, profile AWS_PROFILE or "default"), then IMDSv2. The
 * first three are read synchronously at start; IMDS is fetched and refreshed
 * asynchronously by the S3 client (s3.c) through its own curl multi handle.
 *
 * Secrets are wiped (OPENSSL_cleanse) whenever a struct creds is cleared.
 */
#ifndef PRESIGND_CREDS_H
#define PRESIGND_CREDS_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;

enum creds_source {
    CREDS_NONE = 0,
    CREDS_CONFIG,
    CREDS_ENV,
    CREDS_FILE,
    CREDS_IMDS,
};

struct creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;        /* NULL when not temporary */
    double expiration;          /* unix time; 0 = never */
    enum creds_source source;
};

/* "config file", "environment", "shared credentials file", "instance metadata", "none" */
const char *creds_source_name(enum creds_source s);

/*
 * The static part of the chain (config, environment, shared file). Returns
 * the source found (OUT filled) or CREDS_NONE, meaning: try IMDS. Returns -1
 * with ERR filled only when a source is present but broken (e.g. only one of
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY set, or a profile that lacks a
 * key), so the operator hears about it instead of silently getting IMDS.
 */
int creds_resolve_static(const struct cfg *cfg, struct creds *out,
                         char *err, size_t errlen);

/*
 * Profile PROFILE of the INI file at PATH. Returns 1 (found, OUT filled),
 * 0 (file or profile absent), or -1 with ERR filled (unreadable file,
 * profile without both keys).
 */
int creds_from_file(const char *path, const char *profile, struct creds *out,
                    char *err, size_t errlen);

/* Same, on a file's contents (NAME is used in messages). */
int creds_parse_ini(const char *name, const char *text, size_t len,
                    const char *profile, struct creds *out,
                    char *err, size_t errlen);

/*
 * The JSON of GET /latest/meta-data/iam/security-credentials/ROLE:
 * {"Code": "Success", "AccessKeyId", "SecretAccessKey", "Token",
 *  "Expiration": "2026-11-28T12:00:00Z"}. Returns 0 or -1 with ERR filled.
 */
int creds_parse_imds(const char *json, size_t len, struct creds *out,
                     char *err, size_t errlen);

/* ISO 8601 UTC ("2026-11-28T12:00:00Z", fraction and +00:00 allowed) to unix
 * time; -1 when it cannot be parsed. */
double creds_parse_iso8601(const char *s);

/*
 * When to refresh credentials obtained at NOW that expire at EXPIRATION:
 * the earlier of 5 minutes before expiry and 80% of the lifetime, but never
 * before half of it (short-lived credentials would otherwise be refreshed in
 * a loop) nor sooner than a second from now.
 */
double creds_refresh_at(double now, double expiration);

/* Wipe and free the strings; OUT becomes empty (CREDS_NONE). */
void creds_clear(struct creds *c);

/* Wipe DST, then move SRC into it (SRC becomes empty). */
void creds_replace(struct creds *dst, struct creds *src);

#endif
