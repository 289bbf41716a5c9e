/*
 * json.h: the JSON decoder of libbproc's replies. Internal to the library.
 *
 * A reply is parsed once into a flat array of tokens (jsmn-style): a value
 * is a token, an array's elements and an object's keys and values follow
 * it in order, and each token knows where its subtree ends, so that
 * walking siblings never recurses. The parser is strict (RFC 8259, no
 * extensions) and bounded: a reply it does not accept is EPROTO, never a
 * crash, whatever its bytes.
 */
#ifndef BPROC_JSON_H
#define BPROC_JSON_H

#include <stddef.h>

#ifndef BPI_HIDDEN
/* Internal calls stay out of libbproc.so's interface; everything else is
 * exported by default, so that new public calls need no annotation. */
#define BPI_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Deeper nesting than this is refused: it bounds the parser's recursion
 * and no reply of the master nests more than 5 levels. */
#define BPI_JSON_MAXDEPTH 64

enum bpi_jtype { BPI_JNULL, BPI_JFALSE, BPI_JTRUE, BPI_JNUM, BPI_JSTR, BPI_JARR, BPI_JOBJ };

struct bpi_jtok {
	enum bpi_jtype type;
	size_t start, end; /* the value's bytes; a string's without its quotes */
	size_t next;       /* the index of the token after this subtree */
};

struct bpi_json {
	const char *buf;
	struct bpi_jtok *tok;
	size_t ntok, cap;
};

/* Parses buf[0:len] (no NUL needed) into j, which points into buf. 0, or
 * -1 with errno EPROTO (not JSON) or ENOMEM. */
BPI_HIDDEN int bpi_json_parse(struct bpi_json *j, const char *buf, size_t len);
BPI_HIDDEN void bpi_json_free(struct bpi_json *j);

/* The first element of array or object t (an object's first key), -1 if
 * none; the token after element e of t, -1 at the end. */
BPI_HIDDEN int bpi_json_first(const struct bpi_json *j, int t);
BPI_HIDDEN int bpi_json_next(const struct bpi_json *j, int t, int e);

/* The value of key in object t (the last one, as Go decodes duplicates),
 * or -1 when t has none or is no object. */
BPI_HIDDEN int bpi_json_get(const struct bpi_json *j, int t, const char *key);

/* Token t as an integer in [min, max]: 0, or -1 if it is no number, has a
 * fraction or exponent, or is out of range. */
BPI_HIDDEN int bpi_json_int(const struct bpi_json *j, int t, long long min, long long max, long long *out);

/* Token t, a string, unescaped into dst (NUL-terminated): its length, or
 * -1 when t is no string or it does not fit in size bytes. */
BPI_HIDDEN long bpi_json_str(const struct bpi_json *j, int t, char *dst, size_t size);

/* Whether token t is a string equal to s once unescaped. */
BPI_HIDDEN int bpi_json_streq(const struct bpi_json *j, int t, const char *s);

#endif
