/*
 * bpcall.c: one libbproc call per run, from the command line, for the
 * integration tests (integration/libbproc_test.go) and for trying the
 * library by hand:
 *
 *	bpcall numnodes | currnode | list | proclist NODE | strerror ERR
 *	bpcall status|info|addr|access|reboot|halt|pwroff NODE
 *	bpcall setstatus NODE STATE | chmod NODE OCTAL | chown NODE UID | chgrp NODE GID
 *	bpcall pidnode PID
 *	bpcall notify   (arms a notifier, says "armed", waits up to 30 s for it)
 *
 * A result goes to stdout; a failure prints "error ERRNO TEXT" there and
 * exits 1. NODE may be "any", "self" or "master".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bproc.h"

static int fail(void)
{
	int e = errno;
	printf("error %d %s\n", e, bproc_strerror(e));
	return 1;
}

static int node_arg(const char *s)
{
	if (strcmp(s, "any") == 0)
		return BPROC_NODE_ANY;
	if (strcmp(s, "self") == 0)
		return BPROC_NODE_SELF;
	if (strcmp(s, "master") == 0)
		return BPROC_NODE_MASTER;
	return atoi(s);
}

static void print_addr(const struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN] = "-";
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, text, sizeof text);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, text, sizeof text);
	fputs(text, stdout);
}

static void print_info(const struct bproc_node_info_t *n)
{
	printf("%d %s %04o %u %u ", n->node, bproc_nodestatus_string(n->status), n->mode, n->user, n->group);
	print_addr(&n->addr);
	putchar('\n');
}

/* notify arms a notifier, checks it is quiet, says so, and waits for it
 * to become readable, then re-arms it. */
static int notify(void)
{
	int fd = bproc_notifier();
	if (fd < 0)
		return fail();
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) != 0) {
		puts("readable before any change");
		return 1;
	}
	puts("armed");
	fflush(stdout);
	if (poll(&p, 1, 30000) != 1) {
		puts("not readable after 30 s");
		return 1;
	}
	if (bproc_notifier_rearm(fd) < 0)
		return fail();
	puts("readable");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: bpcall CALL [ARGS]\n", stderr);
		return 2;
	}
	const char *call = argv[1];
	int node = argc > 2 ? node_arg(argv[2]) : 0;
	const char *arg = argc > 3 ? argv[3] : "0";

	if (strcmp(call, "numnodes") == 0) {
		int n = bproc_numnodes();
		if (n < 0)
			return fail();
		printf("%d\n", n);
	} else if (strcmp(call, "currnode") == 0) {
		printf("%d\n", bproc_currnode());
	} else if (strcmp(call, "status") == 0) {
		int s = bproc_nodestatus(node);
		if (s < 0)
			return fail();
		printf("%s\n", bproc_nodestatus_string(s));
	} else if (strcmp(call, "setstatus") == 0) {
		if (bproc_nodesetstatus(node, bproc_nodestatus_byname(arg)) < 0)
			return fail();
	} else if (strcmp(call, "list") == 0) {
		struct bproc_node_info_t *list;
		int n = bproc_nodelist(&list);
		if (n < 0)
			return fail();
		for (int i = 0; i < n; i++)
			print_info(&list[i]);
		free(list);
	} else if (strcmp(call, "info") == 0) {
		struct bproc_node_info_t info;
		if (bproc_nodeinfo(node, &info) < 0)
			return fail();
		print_info(&info);
	} else if (strcmp(call, "addr") == 0) {
		struct sockaddr_storage ss;
		int size = sizeof ss;
		if (bproc_nodeaddr(node, (struct sockaddr *)&ss, &size) < 0)
			return fail();
		print_addr(&ss);
		putchar('\n');
	} else if (strcmp(call, "pidnode") == 0) {
		int n = bproc_pidnode(node);
		if (n < 0)
			return fail();
		printf("%d\n", n);
	} else if (strcmp(call, "proclist") == 0) {
		struct bproc_proc_info_t *list;
		int n = bproc_proclist(node, &list);
		if (n < 0)
			return fail();
		for (int i = 0; i < n; i++)
			printf("%d %d %d %u\n", list[i].pid, list[i].node, list[i].node_pid, list[i].uid);
		free(list);
	} else if (strcmp(call, "chmod") == 0) {
		if (bproc_chmod(node, (int)strtol(arg, NULL, 8)) < 0)
			return fail();
	} else if (strcmp(call, "chown") == 0) {
		if (bproc_chown(node, atoi(arg)) < 0)
			return fail();
	} else if (strcmp(call, "chgrp") == 0) {
		if (bproc_chgrp(node, atoi(arg)) < 0)
			return fail();
	} else if (strcmp(call, "access") == 0) {
		if (bproc_access(node, BPROC_X_OK) < 0)
			return fail();
		puts("ok");
	} else if (strcmp(call, "reboot") == 0) {
		if (bproc_nodereboot(node) < 0)
			return fail();
	} else if (strcmp(call, "halt") == 0) {
		if (bproc_nodehalt(node) < 0)
			return fail();
	} else if (strcmp(call, "pwroff") == 0) {
		if (bproc_nodepwroff(node) < 0)
			return fail();
	} else if (strcmp(call, "strerror") == 0) {
		printf("%s\n", bproc_strerror(node));
	} else if (strcmp(call, "notify") == 0) {
		return notify();
	} else {
		fprintf(stderr, "bpcall: unknown call %s\n", call);
		return 2;
	}
	return 0;
}
