/* Sinks: the alert's JSON parsed back; a command sink fed exactly that JSON,
 * failing, and killed at its time limit (with what it started); the mail
 * message with a Chinese subject decoded back from RFC 2047 and base64, and
 * piped to a stand-in sendmail; a webhook to a loopback receiver (2xx and
 * 500) and to a closed port; the stdout sink. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "hex.h"
#include "sink.h"
#include "tf_test.h"

static uint8_t alert_id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static char *recipients[] = {"gw1", "152223"};
static char *contacts[] = {"13800000000", "bad@@example.org", "duty@example.org",
                           "ops@example.org"};

/* 2026-11-24 07:36:05 UTC, computed with Python's calendar.timegm. */
#define CREATED_AT 1795505765

static void make_alert(tf_alert *a)
{
	wire_init(WIRE_ALERT, a);
	a->id.data = alert_id;
	a->id.len = sizeof alert_id;
	a->kind = "overdue";
	a->elder_id = "D-ctrl";
	a->elder_name = "乌力吉木仁巴图孟和";
	a->area = "音德尔镇";
	a->rule = "monthly_visit";
	a->message = "逾期：乌力吉木仁巴图孟和（D-ctrl，音德尔镇）monthly_visit 已逾期 3 天。";
	a->recipients = recipients;
	a->n_recipients = 2;
	a->contacts = contacts;
	a->n_contacts = 4;
	a->created_at = CREATED_AT;
	a->attempts = 2;
}

static char *alert_json(const tf_alert *a)
{
	char *json = NULL;
	CHECK_OK(sink_alert_json(a, &json));
	CHECK(json != NULL);
	return json;
}

static const char *tmp; /* this test's temporary folder */

static void make_sink(struct sink *s, enum sink_type type, const char *target, unsigned timeout_s)
{
	memset(s, 0, sizeof *s);
	s->type = type;
	snprintf(s->name, sizeof s->name, "sink.%s", sink_type_name(type));
	s->target = target ? strdup(target) : NULL;
	CHECK(!target || s->target);
	s->timeout_s = timeout_s;
}

static void test_types(void)
{
	enum sink_type t;
	for (int i = SINK_STDOUT; i <= SINK_MAIL; i++) {
		const char *n = sink_type_name((enum sink_type)i);
		CHECK_OK(sink_type_parse(n, strlen(n), &t));
		CHECK_EQ_INT(t, i);
	}
	CHECK_STREQ(sink_type_name(SINK_WEBHOOK), "webhook");
	CHECK_OK(sink_type_parse("mail.duty", 4, &t));
	CHECK_EQ_INT(t, SINK_MAIL);
	CHECK_EQ_INT(sink_type_parse("mai", 3, &t), -EINVAL);
	CHECK_EQ_INT(sink_type_parse("sms", 3, &t), -EINVAL);

	CHECK(sink_mail_address_ok("duty@example.org"));
	CHECK(sink_mail_address_ok("a+b.c@x"));
	CHECK(!sink_mail_address_ok("@example.org"));
	CHECK(!sink_mail_address_ok("duty@"));
	CHECK(!sink_mail_address_ok("a@b@c"));
	CHECK(!sink_mail_address_ok("duty@example.org\nBcc: x@y"));
	CHECK(!sink_mail_address_ok("duty@example.org, x@y"));
	CHECK(!sink_mail_address_ok("13800000000"));

	struct sink s;
	make_sink(&s, SINK_STDOUT, NULL, 0);
	CHECK_EQ_INT(sink_budget_ms(&s), 0);
	make_sink(&s, SINK_COMMAND, "true", 3);
	CHECK_EQ_INT(sink_budget_ms(&s), 3000 + SINK_KILL_GRACE_MS);
	sink_clear(&s);
	CHECK(s.target == NULL);
}

static void test_json(void)
{
	tf_alert a;
	make_alert(&a);
	char *json = alert_json(&a);
	CHECK(strncmp(json, "{\"id\":\"", 7) == 0); /* compact, in documented order */
	CHECK(strchr(json, '\n') == NULL);
	json_error_t e;
	json_t *o = json_loads(json, 0, &e);
	CHECK(o != NULL);
	CHECK(json_is_object(o));
	char idhex[33];
	hex_encode(alert_id, 16, idhex);
	const char *id = json_string_value(json_object_get(o, "id"));
	CHECK_STREQ(id, idhex);
	CHECK_EQ_INT(strlen(id), 32);
	CHECK_EQ_INT(strspn(id, "0123456789abcdef"), 32);
	CHECK_STREQ(json_string_value(json_object_get(o, "kind")), "overdue");
	CHECK_STREQ(json_string_value(json_object_get(o, "elder_id")), "D-ctrl");
	CHECK_STREQ(json_string_value(json_object_get(o, "elder_name")), a.elder_name);
	CHECK_STREQ(json_string_value(json_object_get(o, "area")), "音德尔镇");
	CHECK_STREQ(json_string_value(json_object_get(o, "rule")), "monthly_visit");
	CHECK_STREQ(json_string_value(json_object_get(o, "message")), a.message);
	CHECK_STREQ(json_string_value(json_object_get(o, "created_at")), "2026-11-24T07:36:05Z");
	CHECK(json_is_integer(json_object_get(o, "attempts")));
	CHECK_EQ_INT(json_integer_value(json_object_get(o, "attempts")), 2);
	json_t *r = json_object_get(o, "recipients");
	CHECK(json_is_array(r));
	CHECK_EQ_INT(json_array_size(r), 2);
	CHECK_STREQ(json_string_value(json_array_get(r, 0)), "gw1");
	CHECK_STREQ(json_string_value(json_array_get(r, 1)), "152223");
	json_t *c = json_object_get(o, "contacts");
	CHECK_EQ_INT(json_array_size(c), 4);
	CHECK_STREQ(json_string_value(json_array_get(c, 3)), "ops@example.org");
	CHECK_EQ_INT(json_object_size(o), 11);
	json_decref(o);
	free(json);

	/* No contacts: empty arrays, not missing keys. */
	a.n_contacts = 0;
	a.contacts = NULL;
	json = alert_json(&a);
	o = json_loads(json, 0, &e);
	CHECK(o != NULL);
	CHECK(json_is_array(json_object_get(o, "contacts")));
	CHECK_EQ_INT(json_array_size(json_object_get(o, "contacts")), 0);
	json_decref(o);
	free(json);

	a.id.len = 15;
	json = NULL;
	CHECK_EQ_INT(sink_alert_json(&a, &json), -EINVAL);
	CHECK(json == NULL);
	char why[256] = "";
	struct sink s;
	make_sink(&s, SINK_STDOUT, NULL, 0);
	CHECK_EQ_INT(sink_deliver(&s, &a, "{}", why, sizeof why), -EINVAL);
}

static void test_command(void)
{
	tf_alert a;
	make_alert(&a);
	char *json = alert_json(&a);
	char idhex[33];
	hex_encode(alert_id, 16, idhex);
	/* A stale value in our environment must not reach the command. */
	CHECK(setenv("TANFANG_ALERT_ID", "stale", 1) == 0);

	char cmd[1280], in[512], env[512];
	snprintf(in, sizeof in, "%s/stdin", tmp);
	snprintf(env, sizeof env, "%s/env", tmp);
	snprintf(cmd, sizeof cmd,
	         "cat > '%s' && printf '%%s %%s' \"$TANFANG_ALERT_ID\" \"$TANFANG_ALERT_KIND\" > "
	         "'%s'",
	         in, env);
	struct sink s;
	make_sink(&s, SINK_COMMAND, cmd, 5);
	char why[256] = "";
	CHECK_OK(sink_deliver(&s, &a, json, why, sizeof why));
	char *got = tft_read_file(in, NULL);
	CHECK(got != NULL);
	char want[4096];
	snprintf(want, sizeof want, "%s\n", json);
	CHECK_STREQ(got, want);
	free(got);
	got = tft_read_file(env, NULL);
	snprintf(want, sizeof want, "%s overdue", idhex);
	CHECK_STREQ(got, want);
	free(got);
	sink_clear(&s);

	/* A command with nobody to send to: -ENOENT, not a delivery. */
	make_sink(&s, SINK_COMMAND, "cat >/dev/null; exit 67", 5);
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), -ENOENT);
	CHECK_STREQ(why, "exited with status 67: no recipient for this alert");
	sink_clear(&s);

	/* A command that fails: -EIO and its status. */
	make_sink(&s, SINK_COMMAND, "exit 1", 5);
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), -EIO);
	CHECK_STREQ(why, "exited with status 1");
	sink_clear(&s);

	/* One that does not read its stdin still counts by its exit status
	 * (SIGPIPE is ignored, as the dispatcher does). */
	make_sink(&s, SINK_COMMAND, "exec 0<&-; exit 0", 5);
	CHECK_OK(sink_deliver(&s, &a, json, why, sizeof why));
	sink_clear(&s);

	/* One that sleeps past its limit: SIGTERM at 1 s, a failure. */
	make_sink(&s, SINK_COMMAND, "sleep 30", 1);
	int64_t t0 = clock_mono_ms();
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), TF_E_TIMEOUT);
	int64_t took = clock_mono_ms() - t0;
	CHECK(took >= 1000);
	CHECK(took < 1000 + SINK_KILL_GRACE_MS);
	CHECK_STREQ(why, "no result within 1 s; killed");
	sink_clear(&s);

	/* One that ignores SIGTERM and leaves a child behind: SIGKILL after the
	 * grace, and the child goes with its process group. */
	char bg[512];
	snprintf(bg, sizeof bg, "%s/bg.pid", tmp);
	snprintf(cmd, sizeof cmd, "trap '' TERM; sleep 30 & echo $! > '%s'; wait", bg);
	make_sink(&s, SINK_COMMAND, cmd, 1);
	t0 = clock_mono_ms();
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), TF_E_TIMEOUT);
	took = clock_mono_ms() - t0;
	CHECK(took >= 1000 + SINK_KILL_GRACE_MS);
	CHECK(took < 1000 + SINK_KILL_GRACE_MS + 1500);
	sink_clear(&s);
	got = tft_read_file(bg, NULL);
	CHECK(got != NULL);
	long pid = strtol(got, NULL, 10);
	free(got);
	CHECK(pid > 1);
	/* Gone, or a zombie waiting for whoever adopted it. */
	bool dead = false;
	for (int i = 0; i < 200 && !dead; i++) {
		char stat[64];
		snprintf(stat, sizeof stat, "/proc/%ld/stat", pid);
		char *st = tft_read_file(stat, NULL);
		const char *paren = st ? strrchr(st, ')') : NULL;
		dead = !st || (paren && paren[1] == ' ' && paren[2] == 'Z');
		free(st);
		if (!dead)
			usleep(10 * 1000);
	}
	CHECK(dead);
	free(json);
}

/* Decodes standard base64 (no whitespace) into out; returns its length. */
static size_t unbase64(const char *in, size_t n, char *out, size_t outlen)
{
	size_t len = 0;
	CHECK(sodium_base642bin((unsigned char *)out, outlen, in, n, NULL, &len, NULL,
	                        sodium_base64_VARIANT_ORIGINAL) == 0);
	return len;
}

/* The header value of name in message m, with its folded lines. */
static char *header(const char *m, const char *name)
{
	char key[64];
	snprintf(key, sizeof key, "\n%s: ", name);
	const char *p = strstr(m, key); /* never the first line: From comes first */
	CHECK(p != NULL);
	p += strlen(key);
	const char *e = p;
	while ((e = strchr(e, '\n')) && e[1] == ' ')
		e++;
	CHECK(e != NULL);
	return strndup(p, (size_t)(e - p));
}

/* Decodes a Subject made of RFC 2047 "B" words, one per folded line. */
static void decode_subject(const char *v, char *out, size_t outlen, size_t *words)
{
	size_t len = 0;
	*words = 0;
	const char *p = v;
	while (*p) {
		CHECK(strncmp(p, "=?UTF-8?B?", 10) == 0);
		const char *end = strstr(p + 10, "?=");
		CHECK(end != NULL);
		CHECK(end + 2 - p <= 75); /* RFC 2047's limit per encoded word */
		size_t n = unbase64(p + 10, (size_t)(end - p - 10), out + len, outlen - len - 1);
		CHECK(n > 0);
		CHECK(((unsigned char)out[len] & 0xc0) != 0x80); /* split at characters */
		len += n;
		(*words)++;
		p = end + 2;
		if (*p) {
			CHECK(strncmp(p, "\n ", 2) == 0);
			p += 2;
		}
	}
	out[len] = '\0';
}

static void test_mail_message(void)
{
	tf_alert a;
	make_alert(&a);
	char idhex[33];
	hex_encode(alert_id, 16, idhex);
	struct sink s;
	make_sink(&s, SINK_MAIL, "/usr/sbin/sendmail", 5);
	s.from = strdup("tanfang@example.org");
	char *m = NULL;
	CHECK_OK(sink_mail_message(&s, &a, &m));
	for (const char *p = m; *p; p++)
		CHECK((unsigned char)*p < 0x80); /* 7-bit clean */
	CHECK(strncmp(m, "From: tanfang@example.org\n", 26) == 0);

	/* The phone number is left to the SMS command, the malformed address
	 * is skipped. */
	char *to = header(m, "To");
	CHECK_STREQ(to, "duty@example.org,\n ops@example.org");
	free(to);

	char *subj = header(m, "Subject");
	char text[512];
	size_t words;
	decode_subject(subj, text, sizeof text, &words);
	CHECK_STREQ(text, "[探访提醒] 逾期：乌力吉木仁巴图孟和（D-ctrl）");
	CHECK(words >= 2); /* longer than one 45-byte word */
	free(subj);

	char want[128];
	snprintf(want, sizeof want, "\nMessage-ID: <%s@tanfang-alert>\n", idhex);
	CHECK(strstr(m, want) != NULL);
	snprintf(want, sizeof want, "\nX-Tanfang-Alert-Id: %s\n", idhex);
	CHECK(strstr(m, want) != NULL);
	CHECK(strstr(m, "\nContent-Transfer-Encoding: base64\n") != NULL);

	/* The body: base64 lines of at most 76 characters. */
	const char *body = strstr(m, "\n\n");
	CHECK(body != NULL);
	body += 2;
	char b64[4096] = "";
	size_t bl = 0;
	for (const char *p = body; *p;) {
		size_t n = strcspn(p, "\n");
		CHECK(n <= 76);
		CHECK(bl + n < sizeof b64);
		memcpy(b64 + bl, p, n);
		bl += n;
		p += n + (p[n] == '\n');
	}
	char plain[4096];
	size_t pl = unbase64(b64, bl, plain, sizeof plain - 1);
	plain[pl] = '\0';
	CHECK(strncmp(plain, a.message, strlen(a.message)) == 0);
	CHECK(strstr(plain, "类型：逾期（overdue）") != NULL);
	CHECK(strstr(plain, "生成时间：2026-11-24T07:36:05Z") != NULL);
	snprintf(want, sizeof want, "提醒编号：%s\n", idhex);
	CHECK(strstr(plain, want) != NULL);
	free(m);

	/* Only a phone number: no recipient, unless the sink has a default. */
	char *phone[] = {"13800000000"};
	a.contacts = phone;
	a.n_contacts = 1;
	m = NULL;
	CHECK_EQ_INT(sink_mail_message(&s, &a, &m), -ENOENT);
	CHECK(m == NULL);
	s.to_default = strdup("office@example.org");
	CHECK_OK(sink_mail_message(&s, &a, &m));
	to = header(m, "To");
	CHECK_STREQ(to, "office@example.org");
	free(to);
	free(m);
	sink_clear(&s);
}

static void test_mail_deliver(void)
{
	char script[512], args[512], msg[512];
	snprintf(script, sizeof script, "%s/sendmail", tmp);
	snprintf(args, sizeof args, "%s/args", tmp);
	snprintf(msg, sizeof msg, "%s/msg", tmp);
	FILE *f = fopen(script, "w");
	CHECK(f != NULL);
	fprintf(f, "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\ncat > '%s'\n", args, msg);
	CHECK(fclose(f) == 0);
	CHECK(chmod(script, 0755) == 0);

	tf_alert a;
	make_alert(&a);
	char *json = alert_json(&a);
	struct sink s;
	make_sink(&s, SINK_MAIL, script, 5);
	char why[256] = "";
	CHECK_OK(sink_deliver(&s, &a, json, why, sizeof why));
	char *got = tft_read_file(args, NULL);
	CHECK_STREQ(got, "-t\n-i\n");
	free(got);
	got = tft_read_file(msg, NULL);
	CHECK(got != NULL);
	CHECK(strncmp(got, "To: duty@example.org,\n ops@example.org\nSubject: =?UTF-8?B?", 58) ==
	      0);
	free(got);

	/* No address and no to-default: nothing sent, and not delivered
	 * either (-ENOENT): the dispatcher keeps the alert (issue 8, item 7). */
	CHECK(unlink(msg) == 0);
	a.n_contacts = 1; /* the phone number only */
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), -ENOENT);
	CHECK_STREQ(why, "no mail address among the alert's contacts and no to-default");
	CHECK(access(msg, F_OK) < 0);

	/* A sendmail that fails. */
	free(s.target);
	s.target = strdup("/bin/false");
	a.n_contacts = 4;
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), -EIO);
	CHECK_STREQ(why, "exited with status 1");
	sink_clear(&s);
	free(json);
}

/* deploy/sms-gateway-example.sh as a command sink (issue 8, item 7): it
 * said "nothing to send" and exited 0 for an alert without a phone number,
 * so the alert was acknowledged and lost. Now such an alert is not
 * delivered (exit 67) unless SMS_DROP_NO_PHONE=1 says to drop it. */
static void test_sms_example(void)
{
	const char *src = getenv("TANFANG_SRC");
	CHECK(src != NULL);
	char envfile[512], cmd[1400];
	snprintf(envfile, sizeof envfile, "%s/sms-gateway.env", tmp);
	CHECK(setenv("SMS_GATEWAY_ENV", envfile, 1) == 0);
	snprintf(cmd, sizeof cmd, "%s/deploy/sms-gateway-example.sh", src);
	struct sink s;
	make_sink(&s, SINK_COMMAND, cmd, 20);
	tf_alert a;
	make_alert(&a);
	/* contacts[3] is the mail address: no phone number among them. */
	a.contacts = contacts + 3, a.n_contacts = 1;
	char *json = alert_json(&a);
	char why[256];
	static const struct {
		const char *env;
		int want;
	} cases[] = {
	    {"SMS_DRY_RUN=1\n", -ENOENT}, /* even a dry run sends nothing to nobody */
	    {"SMS_GATEWAY_URL=http://127.0.0.1:9/\n", -ENOENT},
	    {"SMS_DRY_RUN=1\nSMS_DROP_NO_PHONE=1\n", 0}, /* dropped: explicit */
	    {"SMS_DROP_NO_PHONE=0\n", -ENOENT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		FILE *f = fopen(envfile, "w");
		CHECK(f != NULL);
		fputs(cases[i].env, f);
		CHECK(fclose(f) == 0);
		CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), cases[i].want);
	}
	free(json);
	/* With a phone number, a dry run delivers; without a gateway URL the
	 * alert stays pending (exit 75, a failure). */
	make_alert(&a);
	json = alert_json(&a);
	FILE *f = fopen(envfile, "w");
	CHECK(f != NULL);
	fputs("SMS_DRY_RUN=1\n", f);
	CHECK(fclose(f) == 0);
	CHECK_OK(sink_deliver(&s, &a, json, why, sizeof why));
	f = fopen(envfile, "w");
	CHECK(f != NULL);
	CHECK(fclose(f) == 0);
	CHECK_EQ_INT(sink_deliver(&s, &a, json, why, sizeof why), -EIO);
	CHECK_STREQ(why, "exited with status 75");
	free(json);
	sink_clear(&s);
	CHECK(unsetenv("SMS_GATEWAY_ENV") == 0);
}

/* A listening socket on a free 127.0.0.1 port. */
static int listen_loopback(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	socklen_t sl = sizeof sa;
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	CHECK(listen(fd, 4) == 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* In a child: accepts one request (within 10 s), writes it to path and
 * answers with status. */
static pid_t receiver(int lfd, const char *path, int status)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid > 0)
		return pid;
	struct pollfd pf = {.fd = lfd, .events = POLLIN};
	if (poll(&pf, 1, 10000) != 1)
		_exit(2);
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		_exit(2);
	char req[8192];
	size_t n = 0;
	size_t want = 0;
	while (n < sizeof req - 1) {
		pf = (struct pollfd){.fd = c, .events = POLLIN};
		if (poll(&pf, 1, 10000) != 1)
			_exit(3);
		ssize_t r = read(c, req + n, sizeof req - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		if (end && !want) {
			char *cl = strcasestr(req, "\r\nContent-Length: ");
			want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 18, NULL, 10) : 0);
		}
		if (want && n >= want)
			break;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, req, n) != (ssize_t)n)
		_exit(4);
	close(fd);
	char ans[128];
	int al =
	    snprintf(ans, sizeof ans,
	             "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
	if (write(c, ans, (size_t)al) != al)
		_exit(5);
	close(c);
	_exit(0);
}

static void wait_receiver(pid_t pid)
{
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ_INT(WEXITSTATUS(st), 0);
}

static void test_webhook(const tf_alert *a, const char *json)
{
	char path[512];
	snprintf(path, sizeof path, "%s/request", tmp);
	char idhex[33], want[256];
	hex_encode(alert_id, 16, idhex);

	int port;
	int lfd = listen_loopback(&port);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/alerts", port);
	struct sink s;
	make_sink(&s, SINK_WEBHOOK, url, 5);
	s.headers = curl_slist_append(NULL, "Authorization: Bearer t0ken");
	CHECK(s.headers != NULL);

	pid_t pid = receiver(lfd, path, 204);
	char why[256] = "";
	CHECK_OK(sink_deliver(&s, a, json, why, sizeof why));
	wait_receiver(pid);
	char *req = tft_read_file(path, NULL);
	CHECK(req != NULL);
	CHECK(strncmp(req, "POST /alerts HTTP/1.1\r\n", 23) == 0);
	snprintf(want, sizeof want, "\r\nX-Tanfang-Alert-Id: %s\r\n", idhex);
	CHECK(strstr(req, want) != NULL);
	CHECK(strstr(req, "\r\nContent-Type: application/json; charset=utf-8\r\n") != NULL);
	CHECK(strstr(req, "\r\nAuthorization: Bearer t0ken\r\n") != NULL);
	CHECK(strcasestr(req, "\r\nExpect:") == NULL);
	const char *body = strstr(req, "\r\n\r\n");
	CHECK(body != NULL);
	CHECK_STREQ(body + 4, json);
	free(req);

	/* A 500 is a failure. */
	pid = receiver(lfd, path, 500);
	CHECK_EQ_INT(sink_deliver(&s, a, json, why, sizeof why), -EIO);
	CHECK_STREQ(why, "HTTP status 500");
	wait_receiver(pid);
	close(lfd);

	/* The port is closed now: a quick failure, well within the limit. */
	int64_t t0 = clock_mono_ms();
	CHECK(sink_deliver(&s, a, json, why, sizeof why) < 0);
	CHECK(clock_mono_ms() - t0 < 5000);
	CHECK(*why != '\0');
	sink_clear(&s);
}

static void test_stdout(const tf_alert *a, const char *json)
{
	char path[512];
	snprintf(path, sizeof path, "%s/stdout", tmp);
	fflush(stdout);
	int saved = dup(1);
	CHECK(saved >= 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(dup2(fd, 1) == 1);
	close(fd);
	struct sink s;
	make_sink(&s, SINK_STDOUT, NULL, 0);
	char why[256] = "";
	int r = sink_deliver(&s, a, json, why, sizeof why);
	CHECK(dup2(saved, 1) == 1);
	close(saved);
	CHECK_OK(r);
	char *got = tft_read_file(path, NULL);
	char want[4096];
	snprintf(want, sizeof want, "%s\n", json);
	CHECK_STREQ(got, want);
	free(got);
}

int main(void)
{
	/* What the dispatcher sets up once (sink.h). */
	signal(SIGPIPE, SIG_IGN);
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	tmp = tft_tmpdir();
	test_types();
	test_json();
	test_command();
	test_sms_example();
	test_mail_message();
	test_mail_deliver();
	tf_alert a;
	make_alert(&a);
	char *json = alert_json(&a);
	test_webhook(&a, json);
	test_stdout(&a, json);
	free(json);
	curl_global_cleanup();
	return tft_done();
}
