/*
 * json.c: a strict, bounded JSON parser into flat tokens, and the reads
 * libbproc makes of them. See json.h.
 */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t len, pos;
	struct bpi_json *j;
};

/* push appends a token and returns its index, or -1 (ENOMEM). */
static long push(struct parser *p, enum bpi_jtype type)
{
	struct bpi_json *j = p->j;
	if (j->ntok == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		/* Every token starts at a distinct byte, so a frame's length
		 * bounds the count; INT_MAX bounds the indices handed out. */
		if (cap > (size_t)INT_MAX || cap > SIZE_MAX / sizeof *j->tok) {
			errno = ENOMEM;
			return -1;
		}
		struct bpi_jtok *t = realloc(j->tok, cap * sizeof *t);
		if (t == NULL)
			return -1;
		j->tok = t;
		j->cap = cap;
	}
	struct bpi_jtok *t = &j->tok[j->ntok];
	t->type = type;
	t->start = t->end = p->pos;
	t->next = j->ntok + 1;
	return (long)j->ntok++;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return;
		p->pos++;
	}
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* string scans a string whose opening quote is at pos; the token covers
 * what is between the quotes. */
static int string(struct parser *p)
{
	long t = push(p, BPI_JSTR);
	if (t < 0)
		return -1;
	p->pos++;
	size_t start = p->pos;
	for (;;) {
		int c = peek(p);
		if (c < 0x20) /* the end of input (-1) or a raw control byte */
			return -1;
		if (c == '"')
			break;
		p->pos++;
		if (c != '\\')
			continue;
		c = peek(p);
		if (c <= 0 || !strchr("\"\\/bfnrtu", c)) /* strchr finds the NUL too */
			return -1;
		p->pos++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, p->pos++)
				if (hexval(peek(p)) < 0)
					return -1;
		}
	}
	p->j->tok[t].start = start;
	p->j->tok[t].end = p->pos;
	p->j->tok[t].next = p->j->ntok;
	p->pos++;
	return 0;
}

static size_t digits(struct parser *p)
{
	size_t n = 0;
	while (peek(p) >= '0' && peek(p) <= '9') {
		p->pos++;
		n++;
	}
	return n;
}

static int number(struct parser *p)
{
	long t = push(p, BPI_JNUM);
	if (t < 0)
		return -1;
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0')
		p->pos++;
	else if (digits(p) == 0)
		return -1;
	if (peek(p) == '.') {
		p->pos++;
		if (digits(p) == 0)
			return -1;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (digits(p) == 0)
			return -1;
	}
	p->j->tok[t].end = p->pos;
	return 0;
}

static int literal(struct parser *p, const char *word, enum bpi_jtype type)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return -1;
	long t = push(p, type);
	if (t < 0)
		return -1;
	p->pos += n;
	p->j->tok[t].end = p->pos;
	return 0;
}

static int value(struct parser *p, int depth);

/* container parses an array or an object: the elements, or key: value
 * members, between open and close. */
static int container(struct parser *p, int depth, enum bpi_jtype type)
{
	char close = type == BPI_JARR ? ']' : '}';
	long t = push(p, type);
	if (t < 0)
		return -1;
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
	} else {
		for (;;) {
			skip_ws(p);
			if (type == BPI_JOBJ) {
				if (peek(p) != '"' || string(p) < 0)
					return -1;
				skip_ws(p);
				if (peek(p) != ':')
					return -1;
				p->pos++;
			}
			if (value(p, depth + 1) < 0)
				return -1;
			skip_ws(p);
			int c = peek(p);
			p->pos++;
			if (c == close)
				break;
			if (c != ',')
				return -1;
		}
	}
	p->j->tok[t].end = p->pos;
	p->j->tok[t].next = p->j->ntok;
	return 0;
}

static int value(struct parser *p, int depth)
{
	if (depth > BPI_JSON_MAXDEPTH)
		return -1;
	skip_ws(p);
	switch (peek(p)) {
	case '{':
		return container(p, depth, BPI_JOBJ);
	case '[':
		return container(p, depth, BPI_JARR);
	case '"':
		return string(p);
	case 't':
		return literal(p, "true", BPI_JTRUE);
	case 'f':
		return literal(p, "false", BPI_JFALSE);
	case 'n':
		return literal(p, "null", BPI_JNULL);
	default:
		return number(p);
	}
}

int bpi_json_parse(struct bpi_json *j, const char *buf, size_t len)
{
	memset(j, 0, sizeof *j);
	j->buf = buf;
	struct parser p = {.s = buf, .len = len, .j = j};
	errno = 0;
	int r = value(&p, 0);
	if (r == 0) {
		skip_ws(&p);
		if (p.pos != len)
			r = -1;
	}
	if (r < 0) {
		if (errno != ENOMEM)
			errno = EPROTO;
		bpi_json_free(j);
		return -1;
	}
	return 0;
}

void bpi_json_free(struct bpi_json *j)
{
	free(j->tok);
	j->tok = NULL;
	j->ntok = j->cap = 0;
}

static int valid(const struct bpi_json *j, int t)
{
	return t >= 0 && (size_t)t < j->ntok;
}

int bpi_json_first(const struct bpi_json *j, int t)
{
	if (!valid(j, t) || (j->tok[t].type != BPI_JARR && j->tok[t].type != BPI_JOBJ))
		return -1;
	if (j->tok[t].next == (size_t)t + 1)
		return -1;
	return t + 1;
}

int bpi_json_next(const struct bpi_json *j, int t, int e)
{
	if (!valid(j, t) || !valid(j, e))
		return -1;
	size_t n = j->tok[e].next;
	return n < j->tok[t].next ? (int)n : -1;
}

int bpi_json_get(const struct bpi_json *j, int t, const char *key)
{
	if (!valid(j, t) || j->tok[t].type != BPI_JOBJ)
		return -1;
	int found = -1;
	for (int k = bpi_json_first(j, t); k >= 0;) {
		int v = bpi_json_next(j, t, k);
		if (v < 0)
			return -1; /* cannot happen: the parser pairs keys and values */
		if (bpi_json_streq(j, k, key))
			found = v;
		k = bpi_json_next(j, t, v);
	}
	return found;
}

int bpi_json_int(const struct bpi_json *j, int t, long long min, long long max, long long *out)
{
	if (!valid(j, t) || j->tok[t].type != BPI_JNUM)
		return -1;
	const char *s = j->buf + j->tok[t].start, *end = j->buf + j->tok[t].end;
	int neg = *s == '-';
	if (neg)
		s++;
	/* Accumulate the magnitude as unsigned, which holds -LLONG_MIN. */
	unsigned long long v = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1; /* a fraction or an exponent */
		unsigned d = (unsigned)(*s - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	long long n;
	if (v > (unsigned long long)LLONG_MAX)
		n = LLONG_MIN; /* only -2^63 gets here */
	else
		n = neg ? -(long long)v : (long long)v;
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* decode unescapes the character at s[*i] (of a string token ending at
 * end) into out as UTF-8, advancing *i: the number of bytes, or -1 for
 * \u0000, which a C string cannot hold. Lone surrogates become U+FFFD, as
 * Go's decoder makes them. */
static int decode(const char *s, size_t end, size_t *i, unsigned char out[4])
{
	unsigned char c = (unsigned char)s[(*i)++];
	if (c != '\\') {
		out[0] = c;
		return 1;
	}
	c = (unsigned char)s[(*i)++];
	switch (c) {
	case 'b':
		out[0] = '\b';
		return 1;
	case 'f':
		out[0] = '\f';
		return 1;
	case 'n':
		out[0] = '\n';
		return 1;
	case 'r':
		out[0] = '\r';
		return 1;
	case 't':
		out[0] = '\t';
		return 1;
	case 'u':
		break;
	default: /* " \ / */
		out[0] = c;
		return 1;
	}
	unsigned long cp = 0;
	for (int k = 0; k < 4; k++)
		cp = cp << 4 | (unsigned)hexval((unsigned char)s[(*i)++]);
	if (cp >= 0xD800 && cp < 0xDC00 && *i + 6 <= end && s[*i] == '\\' && s[*i + 1] == 'u') {
		unsigned long lo = 0;
		for (int k = 2; k < 6; k++)
			lo = lo << 4 | (unsigned)hexval((unsigned char)s[*i + k]);
		if (lo >= 0xDC00 && lo < 0xE000) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			*i += 6;
		}
	}
	if (cp >= 0xD800 && cp < 0xE000)
		cp = 0xFFFD;
	if (cp == 0)
		return -1;
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

long bpi_json_str(const struct bpi_json *j, int t, char *dst, size_t size)
{
	if (!valid(j, t) || j->tok[t].type != BPI_JSTR || size == 0)
		return -1;
	size_t n = 0;
	for (size_t i = j->tok[t].start; i < j->tok[t].end;) {
		unsigned char ch[4];
		int k = decode(j->buf, j->tok[t].end, &i, ch);
		if (k < 0 || n + (size_t)k >= size)
			return -1;
		memcpy(dst + n, ch, (size_t)k);
		n += (size_t)k;
	}
	dst[n] = '\0';
	return (long)n;
}

int bpi_json_streq(const struct bpi_json *j, int t, const char *s)
{
	if (!valid(j, t) || j->tok[t].type != BPI_JSTR)
		return 0;
	size_t n = 0, len = strlen(s);
	for (size_t i = j->tok[t].start; i < j->tok[t].end;) {
		unsigned char ch[4];
		int k = decode(j->buf, j->tok[t].end, &i, ch);
		if (k < 0 || n + (size_t)k > len || memcmp(s + n, ch, (size_t)k) != 0)
			return 0;
		n += (size_t)k;
	}
	return n == len;
}
