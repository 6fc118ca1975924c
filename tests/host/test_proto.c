// SPDX-License-Identifier: GPL-2.0
/* The control socket's framing and request envelope. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "proto.h"
#include "kselftest_harness.h"

FIXTURE(pair) {
	int sv[2];
};

FIXTURE_SETUP(pair)
{
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, self->sv));
}

FIXTURE_TEARDOWN(pair)
{
	close(self->sv[0]);
	close(self->sv[1]);
}

TEST_F(pair, valid_request_round_trips)
{
	struct json_object *req = json_object_new_object(), *got;
	const char *op;

	json_object_object_add(req, "v", json_object_new_int(1));
	json_object_object_add(req, "op", json_object_new_string("list"));
	ASSERT_EQ(0, proto_send(self->sv[0], req, -1));
	json_object_put(req);
	ASSERT_EQ(0, proto_recv(self->sv[1], &got, NULL));
	ASSERT_EQ(0, proto_request_op(got, &op));
	EXPECT_STREQ("list", op);
	json_object_put(got);
}

TEST_F(pair, descriptor_passes)
{
	struct json_object *req = json_object_new_object(), *got;
	int p[2], fd;
	char buf[8] = {0};

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, proto_send(self->sv[0], req, p[0]));
	json_object_put(req);
	ASSERT_EQ(0, proto_recv(self->sv[1], &got, &fd));
	ASSERT_LE(0, fd);
	ASSERT_EQ(4, write(p[1], "key!", 4));
	EXPECT_EQ(4, read(fd, buf, sizeof(buf)));
	EXPECT_STREQ("key!", buf);
	close(fd);
	close(p[0]);
	close(p[1]);
	json_object_put(got);
}

FIXTURE(raw) {
	int sv[2];
};

FIXTURE_VARIANT(raw) {
	const char *text;	/* NULL: built by the test */
	int recv_err;		/* from proto_recv */
	int op_err;		/* from proto_request_op, when received */
};

FIXTURE_VARIANT_ADD(raw, not_json) { "hello", -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, array) { "[1,2]", -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, trailing_garbage) { "{\"v\":1,\"op\":\"list\"} x", -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, two_objects) { "{\"v\":1}{\"v\":1}", -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, truncated) { "{\"v\":1,\"op\":\"li", -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, wrong_version) { "{\"v\":2,\"op\":\"list\"}", 0, -EPROTO };
FIXTURE_VARIANT_ADD(raw, version_as_string) { "{\"v\":\"1\",\"op\":\"list\"}", 0, -EPROTO };
FIXTURE_VARIANT_ADD(raw, no_op) { "{\"v\":1}", 0, -EINVAL };
FIXTURE_VARIANT_ADD(raw, op_not_string) { "{\"v\":1,\"op\":7}", 0, -EINVAL };
FIXTURE_VARIANT_ADD(raw, deep_nesting) { NULL, -EBADMSG, 0 };
FIXTURE_VARIANT_ADD(raw, oversized) { NULL, -EMSGSIZE, 0 };

FIXTURE_SETUP(raw)
{
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, self->sv));
}

FIXTURE_TEARDOWN(raw)
{
	close(self->sv[0]);
	close(self->sv[1]);
}

TEST_F(raw, refused)
{
	static char big[PROTO_MAX_MSG + 64];
	struct json_object *got = NULL;
	const char *text = variant->text, *op;
	int r;

	if (!text && variant->recv_err == -EMSGSIZE) {
		memset(big, ' ', sizeof(big) - 1);
		big[0] = '{';
		big[sizeof(big) - 2] = '}';
		text = big;
	} else if (!text) {
		for (int i = 0; i < 100; i++)
			big[i] = '[';
		big[100] = '\0';
		text = big;
	}
	ASSERT_EQ((ssize_t)strlen(text), send(self->sv[0], text, strlen(text), 0));
	r = proto_recv(self->sv[1], &got, NULL);
	EXPECT_EQ(variant->recv_err, r);
	if (!r) {
		EXPECT_EQ(variant->op_err, proto_request_op(got, &op));
	} else {
		EXPECT_EQ(NULL, got);
	}
	json_object_put(got);
}

TEST_HARNESS_MAIN
