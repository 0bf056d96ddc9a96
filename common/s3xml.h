/*
 * s3xml.h - the two XML documents the S3 client reads, parsed with expat:
 * a ListObjectsV2 result and an S3 error document.
 *
 * Both parsers are pure (no I/O), refuse DTDs (S3 never sends one, and a DTD
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
