/*
 * unit.c: libbproc's unit tests, against a fake master on a unix socket
 * of its own: good replies, replies of every malformed kind, and a fuzz
 * loop over the JSON decoder and the reply readers. Build with the
 * library's sources and the sanitizers (make libbproc-test):
 *
 *	cc -std=c11 -fsanitize=address,undefined -pthread -Ilibbproc \
 *		libbproc/test/unit.c libbproc/[a-z]*.c -o unit && ./unit
 *
 * Prints what failed and exits 1; prints "ok" and exits 0 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bproc.h"
#include "call.h"
#include "json.h"
#include "nodes.h"

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			failures++;                                       \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

/* EXPECT_ERR checks that call failed with errno want. */
#define EXPECT_ERR(call, want)                                                                  \
	do {                                                                                    \
		errno = 0;                                                                      \
		long got_ = (long)(call);                                                       \
		int err_ = errno;                                                               \
		CHECK(got_ == -1 && err_ == (want), "%s = %ld, errno %d (%s), want -1, errno %d (%s)", \
		      #call, got_, err_, bproc_strerror(err_), (want), bproc_strerror(want));    \
	} while (0)

/* ---- The fake master ---- */

/* A reply: a JSON body sent as a frame, or raw bytes sent as they are. */
struct reply {
	const char *json;
	const char *raw;
	size_t rawlen;
};

static struct {
	pthread_mutex_t mu;
	struct reply nodes, procs, ctl, watch;
	int hangup;                       /* close instead of answering */
	char last[BPI_MAXREQUEST + 1];    /* the last request */
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int readn(int fd, void *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, (char *)buf + off, n - off);
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static void writen(int fd, const void *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		buf = (const char *)buf + w;
		n -= (size_t)w;
	}
}

static void send_reply(int fd, const struct reply *r)
{
	if (r->json == NULL) {
		writen(fd, r->raw, r->rawlen);
		return;
	}
	size_t n = strlen(r->json);
	unsigned char hdr[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
	writen(fd, hdr, 4);
	writen(fd, r->json, n);
}

/* serve answers each request on a connection by its op; a watch leaves
 * the connection open for the next, as the master does. */
static void serve(int fd)
{
	for (;;) {
		unsigned char hdr[4];
		if (readn(fd, hdr, 4) < 0)
			return;
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (n > BPI_MAXREQUEST)
			return;
		char req[BPI_MAXREQUEST + 1];
		if (readn(fd, req, n) < 0)
			return;
		req[n] = '\0';
		pthread_mutex_lock(&fake.mu);
		memcpy(fake.last, req, n + 1);
		struct reply r = fake.nodes;
		int watch = strstr(req, "\"op\":\"watch\"") != NULL;
		if (strstr(req, "\"op\":\"procs\""))
			r = fake.procs;
		else if (strstr(req, "\"op\":\"ctl\""))
			r = fake.ctl;
		else if (watch)
			r = fake.watch;
		int hangup = fake.hangup;
		pthread_mutex_unlock(&fake.mu);
		if (hangup)
			return;
		send_reply(fd, &r);
		if (!watch)
			return;
	}
}

static void *server(void *arg)
{
	int l = *(int *)arg;
	for (;;) {
		int fd = accept(l, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	return NULL;
}

static char sockdir[64] = "/tmp/libbproc-test-XXXXXX";
static char sockpath[128];

static void start_fake(void)
{
	if (mkdtemp(sockdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(sockpath, sizeof sockpath, "%s/master.sock", sockdir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, sockpath);
	static int l;
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 16) < 0) {
		perror("fake master");
		exit(2);
	}
	pthread_t t;
	pthread_create(&t, NULL, server, &l);
	pthread_detach(t);
	setenv("BPROC_SOCKET", sockpath, 1);
}

static void stop_fake(void)
{
	unlink(sockpath);
	rmdir(sockdir);
}

static void set(struct reply *slot, const char *json)
{
	pthread_mutex_lock(&fake.mu);
	*slot = (struct reply){.json = json};
	pthread_mutex_unlock(&fake.mu);
}

static void set_raw(struct reply *slot, const char *raw, size_t n)
{
	pthread_mutex_lock(&fake.mu);
	*slot = (struct reply){.raw = raw, .rawlen = n};
	pthread_mutex_unlock(&fake.mu);
}

static int last_is(const char *want)
{
	pthread_mutex_lock(&fake.mu);
	int ok = strcmp(fake.last, want) == 0;
	if (!ok)
		fprintf(stderr, "last request %s, want %s\n", fake.last, want);
	pthread_mutex_unlock(&fake.mu);
	return ok;
}

/* ---- Tests ---- */

static const char table[] =
	"{\"nodes\":[{\"num\":0,\"state\":\"up\",\"addr\":\"10.0.0.5\",\"uid\":0,\"gid\":0,\"mode\":73,\"procs\":1,"
	"\"local\":true,\"kernel\":\"6.1.0\",\"stats\":{\"load\":[0.5,1e-3,0],\"mem_total\":1024,\"mem_used\":0,"
	"\"uptime\":1.5E+2,\"cpus\":2}},"
	"{\"num\":2,\"state\":\"d\\u006fwn\",\"addr\":\"fd00::2\",\"uid\":1000,\"gid\":100,\"mode\":64,\"procs\":0},"
	"{\"num\":3,\"state\":\"boot\",\"uid\":0,\"gid\":0,\"mode\":64,\"procs\":0}],"
	"\"future\":{\"x\":[null,true,false,-0.5,\"\\ud83d\\ude00\"]}}";

static void test_nodes(void)
{
	set(&fake.nodes, table);
	CHECK(bproc_numnodes() == 4, "numnodes = %d, want 4", bproc_numnodes());
	CHECK(last_is("{\"op\":\"nodes\"}"), "nodes request");
	CHECK(bproc_nodestatus(0) == bproc_node_up, "nodestatus(0) = %d", bproc_nodestatus(0));
	CHECK(bproc_nodestatus(2) == bproc_node_down, "nodestatus(2) = %d", bproc_nodestatus(2));
	CHECK(bproc_nodestatus(BPROC_NODE_MASTER) == bproc_node_up, "nodestatus(master)");
	EXPECT_ERR(bproc_nodestatus(1), BE_INVALIDNODE);
	EXPECT_ERR(bproc_nodestatus(-7), BE_INVALIDNODE);

	struct bproc_node_info_t *list;
	int n = bproc_nodelist(&list);
	CHECK(n == 3, "nodelist = %d, want 3", n);
	if (n == 3) {
		CHECK(list[1].node == 2 && list[1].user == 1000 && list[1].group == 100 && list[1].mode == 0100,
		      "nodelist[1] = %d %u %u %o", list[1].node, list[1].user, list[1].group, list[1].mode);
		CHECK(list[2].addr.ss_family == AF_UNSPEC, "a node never seen has no address");
		free(list);
	}

	struct bproc_node_info_t info;
	CHECK(bproc_nodeinfo(0, &info) == 0 && info.node == 0 && info.status == bproc_node_up && info.mode == 0111,
	      "nodeinfo(0)");
	EXPECT_ERR(bproc_nodeinfo(9, &info), BE_INVALIDNODE);

	struct sockaddr_storage ss;
	int size = sizeof ss;
	char text[INET6_ADDRSTRLEN] = "";
	CHECK(bproc_nodeaddr(0, (struct sockaddr *)&ss, &size) == 0 && size == sizeof(struct sockaddr_in) &&
		      inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof text) &&
		      strcmp(text, "10.0.0.5") == 0,
	      "nodeaddr(0) = %s, size %d", text, size);
	size = sizeof ss;
	CHECK(bproc_nodeaddr(2, (struct sockaddr *)&ss, &size) == 0 && ss.ss_family == AF_INET6 &&
		      size == sizeof(struct sockaddr_in6),
	      "nodeaddr(2): family %d size %d", ss.ss_family, size);
	size = sizeof(struct sockaddr_in);
	EXPECT_ERR(bproc_nodeaddr(2, (struct sockaddr *)&ss, &size), EINVAL);
	size = sizeof ss;
	EXPECT_ERR(bproc_nodeaddr(3, (struct sockaddr *)&ss, &size), BE_NODEDOWN);
	EXPECT_ERR(bproc_nodeaddr(BPROC_NODE_MASTER, (struct sockaddr *)&ss, &size), EADDRNOTAVAIL);

	CHECK(bproc_access(0, BPROC_X_OK) == 0, "access(0) as %d", (int)geteuid());
	EXPECT_ERR(bproc_access(3, BPROC_X_OK), BE_NODEDOWN);
	EXPECT_ERR(bproc_access(9, BPROC_X_OK), BE_INVALIDNODE);
	EXPECT_ERR(bproc_access(0, 4), EINVAL);
	CHECK(bproc_access(3, 0) == 0, "access(3, 0): the node exists");

	/* An empty table, as Go writes it, or spelled otherwise. */
	set(&fake.nodes, "{}");
	CHECK(bproc_numnodes() == 0, "numnodes of {} = %d", bproc_numnodes());
	set(&fake.nodes, "{\"nodes\":null}");
	CHECK(bproc_numnodes() == 0, "numnodes of null = %d", bproc_numnodes());
	set(&fake.nodes, " {\"nodes\" : [ ] , \"error\":\"\"} \n");
	CHECK(bproc_numnodes() == 0, "numnodes of [] = %d", bproc_numnodes());
	/* Duplicate keys: the last one counts, as in Go. */
	set(&fake.nodes, "{\"nodes\":5,\"nodes\":[{\"num\":6,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}");
	CHECK(bproc_numnodes() == 7, "numnodes with a duplicate key = %d", bproc_numnodes());
}

static void test_errors(void)
{
	static const struct {
		const char *reply;
		int err;
	} cases[] = {
		{"{\"error\":\"Invalid node number\"}", BE_INVALIDNODE},
		{"{\"error\":\"Node is down\"}", BE_NODEDOWN},
		{"{\"error\":\"signal 7: Invalid process ID\"}", BE_INVALIDPROCESS},
		{"{\"error\":\"Slave node died\"}", BE_SLAVEDIED},
		{"{\"error\":\"Node is unavailable\"}", BE_NODEDOWN},
		{"{\"error\":\"add-node: Permission denied (root only)\"}", EACCES},
		{"{\"error\":\"signal 7: operation not permitted\"}", EPERM},
		{"{\"error\":\"unknown operation \\\"nodes\\\"\"}", ENOSYS},
		{"{\"error\":\"vmadump: remote fork is not ported to linux/arm64: function not implemented\"}", ENOSYS},
		{"{\"error\":\"ctl: mode 0777: only execute bits (0111) mean anything on a node\"}", EINVAL},
		{"{\"error\":5}", EPROTO},
		{"{\"error\":[\"Node is down\"]}", EPROTO},
		/* The code, when there is one, rather than the text. */
		{"{\"error\":\"a text no table has\",\"code\":303}", BE_SLAVEDIED},
		{"{\"error\":\"Node is down\",\"code\":13}", EACCES},
		{"{\"code\":301,\"error\":\"Exec format error: node 2's CPU lacks avx2\"}", BE_NODEDOWN},
		/* A code out of range, or no number: the text decides. */
		{"{\"error\":\"Node is down\",\"code\":305}", BE_NODEDOWN},
		{"{\"error\":\"Node is down\",\"code\":0}", BE_NODEDOWN},
		{"{\"error\":\"Node is down\",\"code\":-1}", BE_NODEDOWN},
		{"{\"error\":\"Node is down\",\"code\":\"13\"}", BE_NODEDOWN},
		{"{\"error\":\"Node is down\",\"code\":13.5}", BE_NODEDOWN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		set(&fake.nodes, cases[i].reply);
		errno = 0;
		int n = bproc_numnodes();
		CHECK(n == -1 && errno == cases[i].err, "reply %s: numnodes = %d, errno %d, want errno %d",
		      cases[i].reply, n, errno, cases[i].err);
	}
	set(&fake.nodes, "{\"error\":null,\"nodes\":[]}");
	CHECK(bproc_numnodes() == 0, "\"error\":null is no error");

	CHECK(strcmp(bproc_strerror(BE_INVALIDNODE), "Invalid node number") == 0, "strerror(BE_INVALIDNODE)");
	CHECK(strcmp(bproc_strerror(BE_NODEDOWN), "Node is down") == 0, "strerror(BE_NODEDOWN)");
	CHECK(strcmp(bproc_strerror(BE_SAMENODE), "Move to same node") == 0, "strerror(BE_SAMENODE)");
	CHECK(strcmp(bproc_strerror(BE_SLAVEDIED), "Slave node died") == 0, "strerror(BE_SLAVEDIED)");
	CHECK(strcmp(bproc_strerror(BE_INVALIDPROCESS), "Invalid process ID") == 0, "strerror(BE_INVALIDPROCESS)");
	CHECK(strcmp(bproc_strerror(EACCES), strerror(EACCES)) == 0, "strerror(EACCES)");
	CHECK(bproc_strerror(BE_END) != NULL, "strerror(BE_END)");
}

/* Every kind of reply that is not one: each call fails with errno set. */
static void test_malformed(void)
{
	static const char *const bodies[] = {
		"", " ", "not json", "[]", "null", "\"nodes\"", "{", "{}}", "{} x", "{\"nodes\":5}",
		"{\"nodes\":{}}", "{\"nodes\":[5]}", "{\"nodes\":[{}]}",
		"{\"nodes\":[{\"num\":\"0\",\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":-1,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":1.5,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":1e2,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":99999999999,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":99999999999999999999999,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"sleepy\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"u\\u0000p\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"up\",\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"up\",\"uid\":4294967296,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":01,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":-,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0,}]}",
		"{\"nodes\":[{\"num\":0,\"state\":\"up\",\"uid\":0,\"gid\":0,\"mode\":0}],}",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"unterminated}", "{\"a\":\"raw\ttab\"}", "{\"a\" 1}", "{a:1}", "{\"a\":1 \"b\":2}",
		"{\"a\":.5}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":[1,]}", "{\"a\":[,1]}",
		"{\"a\":'x'}", "\xef\xbb\xbf{}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		set(&fake.nodes, bodies[i]);
		errno = 0;
		int n = bproc_numnodes();
		CHECK(n == -1 && errno == EPROTO, "reply %s: numnodes = %d, errno %d, want EPROTO", bodies[i], n, errno);
	}

	/* Nesting past the limit, and just within it. */
	static char deep[2 * 10000 + 16];
	size_t k = 0;
	k += (size_t)sprintf(deep, "{\"x\":");
	for (int i = 0; i < 10000; i++)
		deep[k++] = '[';
	for (int i = 0; i < 10000; i++)
		deep[k++] = ']';
	deep[k++] = '}';
	deep[k] = '\0';
	set(&fake.nodes, deep);
	EXPECT_ERR(bproc_numnodes(), EPROTO);
	static char ok[2 * BPI_JSON_MAXDEPTH + 16];
	k = (size_t)sprintf(ok, "{\"x\":");
	for (int i = 0; i < BPI_JSON_MAXDEPTH - 1; i++)
		ok[k++] = '[';
	for (int i = 0; i < BPI_JSON_MAXDEPTH - 1; i++)
		ok[k++] = ']';
	ok[k++] = '}';
	ok[k] = '\0';
	set(&fake.nodes, ok);
	CHECK(bproc_numnodes() == 0, "nesting of %d levels: numnodes = %d, errno %d", BPI_JSON_MAXDEPTH, bproc_numnodes(), errno);

	/* Frames gone wrong: the master hangs up in the header, in the body,
	 * or announces more than any frame may hold. */
	set_raw(&fake.nodes, "", 0);
	EXPECT_ERR(bproc_numnodes(), ECONNRESET);
	set_raw(&fake.nodes, "\0\0", 2);
	EXPECT_ERR(bproc_numnodes(), ECONNRESET);
	set_raw(&fake.nodes, "\0\0\0\x0a{}", 6);
	EXPECT_ERR(bproc_numnodes(), ECONNRESET);
	set_raw(&fake.nodes, "\0\x80\0\x01{}", 6);
	EXPECT_ERR(bproc_numnodes(), EPROTO);
	/* A backslash before a NUL byte: strchr would call that an escape. */
	set_raw(&fake.nodes, "\0\0\0\x0a{\"x\":\"\\\0\"}", 14);
	EXPECT_ERR(bproc_numnodes(), EPROTO);
	set_raw(&fake.nodes, "\xff\xff\xff\xff{}", 6);
	EXPECT_ERR(bproc_numnodes(), EPROTO);
	set_raw(&fake.nodes, "\0\0\0\x02{}\0\0\0\x02{}", 12); /* a second frame is not read */
	CHECK(bproc_numnodes() == 0, "one frame and some: numnodes = %d", bproc_numnodes());
	/* Little-endian would be 0x02000000 bytes: the order is big-endian. */
	set_raw(&fake.nodes, "\x02\0\0\0{}", 6);
	EXPECT_ERR(bproc_numnodes(), EPROTO);
}

static void test_ctl(void)
{
	set(&fake.ctl, "{}");
	CHECK(bproc_chmod(0, 0111) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[0],\"mode\":73}}"), "chmod");
	CHECK(bproc_chown(1, 65534) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[1],\"uid\":65534}}"), "chown");
	CHECK(bproc_chgrp(2, 100) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[2],\"gid\":100}}"), "chgrp");
	CHECK(bproc_nodesetstatus(3, bproc_node_unavailable) == 0 &&
		      last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[3],\"state\":\"unavailable\"}}"),
	      "setstatus unavailable");
	CHECK(bproc_nodereboot(4) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[4],\"action\":\"reboot\"}}"), "reboot");
	CHECK(bproc_nodehalt(4) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[4],\"action\":\"halt\"}}"), "halt");
	CHECK(bproc_nodepwroff(4) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[4],\"action\":\"pwroff\"}}"), "pwroff");
	setenv("BPROC_NODE", "5", 1);
	CHECK(bproc_chmod(BPROC_NODE_SELF, 0) == 0 && last_is("{\"op\":\"ctl\",\"ctl\":{\"nodes\":[5],\"mode\":0}}"), "chmod self");
	unsetenv("BPROC_NODE");

	EXPECT_ERR(bproc_nodesetstatus(0, bproc_node_boot), EINVAL);
	EXPECT_ERR(bproc_nodesetstatus(0, bproc_node_down), EINVAL);
	EXPECT_ERR(bproc_nodesetstatus(0, 99), EINVAL);
	EXPECT_ERR(bproc_chown(0, -1), EINVAL);
	EXPECT_ERR(bproc_chmod(BPROC_NODE_MASTER, 0111), BE_INVALIDNODE);
	set(&fake.ctl, "{\"failed\":[{\"node\":0,\"error\":\"node 0 is busy\",\"code\":301}]}");
	EXPECT_ERR(bproc_chmod(0, 0111), BE_NODEDOWN);
	set(&fake.ctl, "{}");

	set(&fake.ctl, "{\"failed\":[{\"node\":0,\"error\":\"Operation not permitted\"}]}");
	EXPECT_ERR(bproc_chown(0, 0), EPERM);
	set(&fake.ctl, "{\"failed\":[{\"node\":0,\"error\":\"Node is down\"}]}");
	EXPECT_ERR(bproc_nodesetstatus(0, bproc_node_up), BE_NODEDOWN);
	set(&fake.ctl, "{\"failed\":[{\"node\":9,\"error\":\"Invalid node number\"}]}");
	EXPECT_ERR(bproc_chmod(9, 0), BE_INVALIDNODE);
	set(&fake.ctl, "{\"failed\":null}");
	CHECK(bproc_chmod(0, 0) == 0, "failed: null");
	set(&fake.ctl, "{\"failed\":[{\"node\":0}]}");
	EXPECT_ERR(bproc_chmod(0, 0), EPROTO);
	set(&fake.ctl, "{\"failed\":{}}");
	EXPECT_ERR(bproc_chmod(0, 0), EPROTO);
	set(&fake.ctl, "{\"failed\":[{\"node\":0,\"error\":7}]}");
	EXPECT_ERR(bproc_chmod(0, 0), EPROTO);
	set(&fake.ctl, "{\"error\":\"ctl: mode 0777: only execute bits (0111) mean anything on a node\"}");
	EXPECT_ERR(bproc_chmod(0, 0777), EINVAL);
}

static void test_procs(void)
{
	set(&fake.nodes, table);
	set(&fake.procs, "{\"procs\":[{\"pid\":100,\"node_pid\":100,\"node\":2,\"uid\":0,\"argv\":[\"sleep\",\"1\"]},"
			 "{\"pid\":101,\"node_pid\":7,\"node\":0,\"uid\":5,\"argv\":null}]}");
	CHECK(bproc_pidnode(100) == 2, "pidnode(100) = %d", bproc_pidnode(100));
	CHECK(bproc_pidnode(101) == 0, "pidnode(101) = %d", bproc_pidnode(101));
	EXPECT_ERR(bproc_pidnode(5), BE_INVALIDPROCESS);
	EXPECT_ERR(bproc_pidnode(0), BE_INVALIDPROCESS);
	EXPECT_ERR(bproc_pidnode(-3), BE_INVALIDPROCESS);

	struct bproc_proc_info_t *list;
	int n = bproc_proclist(BPROC_NODE_ANY, &list);
	CHECK(n == 2 && list[1].pid == 101 && list[1].node_pid == 7 && list[1].uid == 5, "proclist(any) = %d", n);
	free(list);
	n = bproc_proclist(0, &list);
	CHECK(n == 1 && list[0].pid == 101, "proclist(0) = %d", n);
	free(list);
	n = bproc_proclist(3, &list);
	CHECK(n == 0 && list == NULL, "proclist(3) = %d", n);
	n = bproc_proclist(BPROC_NODE_MASTER, &list);
	CHECK(n == 0 && list == NULL, "proclist(master) = %d", n);
	EXPECT_ERR(bproc_proclist(9, &list), BE_INVALIDNODE);
	EXPECT_ERR(bproc_proclist(-9, &list), BE_INVALIDNODE);

	set(&fake.procs, "{}");
	CHECK(bproc_proclist(BPROC_NODE_ANY, &list) == 0 && list == NULL, "no procs");
	set(&fake.procs, "{\"procs\":[{\"pid\":0,\"node_pid\":0,\"node\":0,\"uid\":0}]}");
	EXPECT_ERR(bproc_proclist(BPROC_NODE_ANY, &list), EPROTO);
	set(&fake.procs, "{\"procs\":[{\"pid\":1,\"node\":0,\"uid\":0}]}");
	EXPECT_ERR(bproc_pidnode(1), EPROTO);
	set(&fake.procs, "{\"procs\":\"many\"}");
	EXPECT_ERR(bproc_pidnode(1), EPROTO);
}

static int readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

static void test_notifier(void)
{
	/* The fake answers every watch at once, as a master whose table
	 * keeps changing would. */
	set(&fake.watch, "{\"nodes\":[]}");
	int fd = bproc_notifier();
	CHECK(fd >= 0, "notifier: %s", bproc_strerror(errno));
	if (fd < 0)
		return;
	CHECK(readable(fd, 5000), "notifier not readable after an answer");
	CHECK(bproc_notifier_rearm(fd) == 0, "rearm: %s", bproc_strerror(errno));
	CHECK(readable(fd, 5000), "notifier not readable after the second answer");
	pthread_mutex_lock(&fake.mu);
	fake.hangup = 1;
	pthread_mutex_unlock(&fake.mu);
	CHECK(bproc_notifier_rearm(fd) == 0, "rearm before the hangup: %s", bproc_strerror(errno));
	CHECK(readable(fd, 5000), "notifier not readable when the master hung up");
	EXPECT_ERR(bproc_notifier_rearm(fd), ECONNRESET);
	close(fd);
	pthread_mutex_lock(&fake.mu);
	fake.hangup = 0;
	pthread_mutex_unlock(&fake.mu);

	set(&fake.watch, "{\"error\":\"Node is down\"}");
	fd = bproc_notifier();
	CHECK(fd >= 0 && readable(fd, 5000), "notifier with an error answer");
	EXPECT_ERR(bproc_notifier_rearm(fd), BE_NODEDOWN);
	close(fd);
}

static void test_local(void)
{
	unsetenv("BPROC_NODE");
	CHECK(bproc_currnode() == BPROC_NODE_MASTER, "currnode without BPROC_NODE = %d", bproc_currnode());
	setenv("BPROC_NODE", "3", 1);
	CHECK(bproc_currnode() == 3, "currnode = %d, want 3", bproc_currnode());
	setenv("BPROC_NODE", "-1", 1);
	CHECK(bproc_currnode() == BPROC_NODE_MASTER, "currnode -1 = %d", bproc_currnode());
	setenv("BPROC_NODE", "3x", 1);
	CHECK(bproc_currnode() == BPROC_NODE_MASTER, "currnode 3x = %d", bproc_currnode());
	setenv("BPROC_NODE", "99999999999", 1);
	CHECK(bproc_currnode() == BPROC_NODE_MASTER, "currnode of a huge number = %d", bproc_currnode());
	unsetenv("BPROC_NODE");

	for (int s = 0; s < bproc_node_num_states; s++)
		CHECK(bproc_nodestatus_byname(bproc_nodestatus_string(s)) == s, "state %d round trip", s);
	CHECK(strcmp(bproc_nodestatus_string(bproc_node_pwroff), "pwroff") == 0, "pwroff");
	CHECK(bproc_nodestatus_string(bproc_node_num_states) == NULL, "state past the end");
	CHECK(bproc_nodestatus_string(-1) == NULL, "state -1");
	EXPECT_ERR(bproc_nodestatus_byname("sleepy"), EINVAL);
	EXPECT_ERR(bproc_nodestatus_byname(NULL), EINVAL);
}

static void test_no_master(void)
{
	setenv("BPROC_SOCKET", "/nonexistent/bproc/master.sock", 1);
	EXPECT_ERR(bproc_numnodes(), ENOENT);
	EXPECT_ERR(bproc_notifier(), ENOENT);
	EXPECT_ERR(bproc_chmod(0, 0), ENOENT);
	char longpath[200];
	memset(longpath, 'x', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	setenv("BPROC_SOCKET", longpath, 1);
	EXPECT_ERR(bproc_numnodes(), ENAMETOOLONG);
	setenv("BPROC_SOCKET", sockpath, 1);
}

/* ---- Fuzzing ---- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const seeds[] = {
	table,
	"{\"procs\":[{\"pid\":100,\"node_pid\":100,\"node\":2,\"uid\":0,\"argv\":[\"sleep\",\"1\"]}]}",
	"{\"failed\":[{\"node\":0,\"error\":\"Operation not permitted\"}],\"error\":\"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
	"{\"a\":[-0.0e-0,1E+9,true,false,null,{},[],\"\\ud800\\udc00\\udbff\"]}",
};

/* Pieces that make a decoder's life hard, spliced in at random. */
static const char *const pieces[] = {
	"{", "}", "[", "]", "\"", "\\", "\\u", "\\ud800", ":", ",", "-", "0", "1e", ".", "null", "true",
	"\"num\":", "\"nodes\":[", "\"state\":\"up\"", "99999999999999999999", "\x00", "\xff", " ",
};

/* mutate writes a variant of src into dst (room for cap bytes) and
 * returns its length. */
static size_t mutate(const char *src, size_t n, char *dst, size_t cap)
{
	if (n > cap)
		n = cap;
	memcpy(dst, src, n);
	int rounds = 1 + (int)(next_rand() % 4);
	for (int r = 0; r < rounds; r++) {
		size_t at = n ? next_rand() % (n + 1) : 0;
		switch (next_rand() % 5) {
		case 0: /* flip a byte */
			if (at < n)
				dst[at] = (char)next_rand();
			break;
		case 1: /* cut */
			n = at;
			break;
		case 2: { /* delete a run */
			size_t k = next_rand() % 8;
			if (at + k > n)
				k = n - at;
			memmove(dst + at, dst + at + k, n - at - k);
			n -= k;
			break;
		}
		default: { /* insert a piece */
			const char *p = pieces[next_rand() % (sizeof pieces / sizeof pieces[0])];
			size_t k = strlen(p) ? strlen(p) : 1; /* "\x00" is one NUL byte */
			if (n + k > cap)
				break;
			memmove(dst + at + k, dst + at, n - at);
			memcpy(dst + at, p, k);
			n += k;
		}
		}
	}
	return n;
}

/* walk reads every token every way the library does. */
static void walk(const struct bpi_json *j)
{
	char buf[64];
	long long v;
	for (size_t t = 0; t < j->ntok; t++) {
		bpi_json_int(j, (int)t, INT32_MIN, INT32_MAX, &v);
		bpi_json_str(j, (int)t, buf, sizeof buf);
		bpi_json_streq(j, (int)t, "up");
		bpi_json_get(j, (int)t, "num");
		for (int e = bpi_json_first(j, (int)t); e >= 0; e = bpi_json_next(j, (int)t, e))
			;
	}
	struct bproc_node_info_t *list;
	if (bpi_parse_nodes(j, 0, &list) >= 0)
		free(list);
}

static void fuzz(int iterations)
{
	char *buf = malloc(8192);
	for (int i = 0; i < iterations; i++) {
		const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
		size_t n = mutate(seed, strlen(seed), buf, 8192);
		/* A buffer of exactly n bytes, so that reading past it is seen. */
		char *exact = malloc(n ? n : 1);
		memcpy(exact, buf, n);
		struct bpi_json j;
		if (bpi_json_parse(&j, exact, n) == 0) {
			walk(&j);
			bpi_json_free(&j);
		} else {
			CHECK(errno == EPROTO, "parse failed with errno %d, want EPROTO", errno);
		}
		free(exact);
	}
	free(buf);
}

/* fuzz_calls sends mutated replies through the socket to the calls. */
static void fuzz_calls(int iterations)
{
	static char buf[8192];
	for (int i = 0; i < iterations; i++) {
		const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
		size_t n = mutate(seed, strlen(seed), buf + 4, sizeof buf - 4);
		buf[0] = buf[1] = 0;
		buf[2] = (char)(n >> 8);
		buf[3] = (char)n;
		if (next_rand() % 16 == 0)
			buf[next_rand() % 4] = (char)next_rand(); /* a bad length too, now and then */
		set_raw(&fake.nodes, buf, n + 4);
		set_raw(&fake.procs, buf, n + 4);
		set_raw(&fake.ctl, buf, n + 4);
		struct bproc_node_info_t *nodes;
		struct bproc_proc_info_t *procs;
		int k;
		switch (i % 4) {
		case 0:
			bproc_numnodes();
			break;
		case 1:
			if ((k = bproc_nodelist(&nodes)) >= 0)
				free(nodes);
			break;
		case 2:
			if ((k = bproc_proclist(BPROC_NODE_ANY, &procs)) >= 0)
				free(procs);
			break;
		case 3:
			bproc_chmod(0, 0111);
			break;
		}
	}
}

int main(void)
{
	start_fake();
	test_local();
	test_nodes();
	test_errors();
	test_malformed();
	test_ctl();
	test_procs();
	test_notifier();
	test_no_master();
	fuzz(200000);
	fuzz_calls(3000);
	stop_fake();
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	puts("ok");
	return 0;
}
