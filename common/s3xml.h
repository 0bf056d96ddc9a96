/*
 * s3xml.h - the XML documents the S3 client reads, parsed with expat: a
 * ListObjectsV2 result, the three answers of a multipart upload
 * (InitiateMultipartUploadResult, ListPartsResult,
 * CompleteMultipartUploadResult) and an S3 error document; and the one it
 * writes, the part list of CompleteMultipartUpload.
 *
 * The parsers are pure (no I/O), refuse DTDs (S3 never sends one, and a DTD
 * is how entity-expansion attacks start) and bound the text they collect.
 */
#ifndef PRESIGND_S3XML_H
#define PRESIGND_S3XML_H

#include <stdbool.h>
#include <stddef.h>

#include "s3.h"

struct s3xml_list {
    struct s3_object *objects;   /* n_objects entries, each field malloc'd */
    size_t n_objects;
    bool truncated;              /* <IsTruncated>true</IsTruncated> */
    char *next_token;            /* <NextContinuationToken>, NULL when none */
    int key_count;               /* <KeyCount>, -1 when absent */
};

/*
 * Parse a ListBucketResult. Returns 0, or -1 with ERR filled (malformed XML,
 * wrong root element, a <Contents> without <Key>, a bad <Size>); on error
 * OUT is left empty.
 */
int s3xml_parse_list(const char *xml, size_t len, struct s3xml_list *out,
                     char *err, size_t errlen);
void s3xml_list_free(struct s3xml_list *l);

struct s3xml_parts {
    struct s3_part *parts;       /* n_parts entries, etag malloc'd */
    size_t n_parts;
    bool truncated;
    int next_marker;             /* <NextPartNumberMarker>, 0 when none */
};

/* Parse a ListPartsResult. 0, or -1 with ERR filled (OUT empty). */
int s3xml_parse_parts(const char *xml, size_t len, struct s3xml_parts *out,
                      char *err, size_t errlen);
void s3xml_parts_free(struct s3xml_parts *p);

/* What InitiateMultipartUploadResult and CompleteMultipartUploadResult
 * say; fields absent from the document stay NULL. */
struct s3xml_upload {
    char *upload_id;
    char *location;
    char *bucket;
    char *key;
    char *etag;                  /* quotes removed */
};

/* Parse either document (ROOT names it). 0, or -1 with ERR filled. */
int s3xml_parse_upload(const char *xml, size_t len, const char *root,
                       struct s3xml_upload *out, char *err, size_t errlen);
void s3xml_upload_free(struct s3xml_upload *u);

/*
 * The body of CompleteMultipartUpload for N parts, into B: each ETag is
 * written quoted whether the caller's had quotes or not. False when an
 * ETag holds characters no ETag has (ERR says which part).
 */
struct buf;
bool s3xml_complete_body(struct buf *b, const struct s3_part *parts, size_t n,
                         char *err, size_t errlen);

struct s3xml_error {
    char *code;       /* <Code>, NULL when absent */
    char *message;    /* <Message>, NULL when absent */
};

/* Parse an <Error> document. Returns 0, or -1 when XML is not one (OUT empty). */
int s3xml_parse_error(const char *xml, size_t len, struct s3xml_error *out);
void s3xml_error_free(struct s3xml_error *e);

/* Free the fields of N objects and the array itself. */
void s3xml_objects_free(struct s3_object *objs, size_t n);

#endif
