#!/bin/sh
# Example SMS sink for tanfang-alert ([sink.command] command = this script).
#
# tanfang-alert runs it once per alert with the alert as one JSON object on
# standard input (docs/alerts.md) and TANFANG_ALERT_ID / TANFANG_ALERT_KIND in
# the environment. Exit status 0 = delivered (never sent again); 67 = nobody
# to send it to (no phone number: kept pending, the dispatcher logs it);
# anything else = failed, retried on the next run. Standard output and error
# go to the journal.
#
# It sends the alert's message to every contact that looks like a phone
# number, through an HTTP SMS gateway, with curl. Settings come from
# /etc/tanfang/sms-gateway.env (or the file in $SMS_GATEWAY_ENV; the folder
# is $TANFANG_SYSCONFDIR if set):
#   SMS_GATEWAY_URL=https://sms.example.org/api/send   # POST phone=..&text=..
#   SMS_GATEWAY_TOKEN=...                              # sent as a Bearer token
#   SMS_DRY_RUN=1                                      # print, send nothing, exit 0
#   SMS_DROP_NO_PHONE=1  # an alert with no phone number is dropped: logged,
#                        # exit 0, so it is acknowledged and never sent. Only
#                        # when another sink (mail, webhook) reaches people.
# Without SMS_DROP_NO_PHONE, an alert with no phone number among its contacts
# exits 67: not delivered, so it stays pending (issue 8, item 7: "1+2 not set
# up" alerts of a village without a contact used to be acknowledged and lost).
# Harmless by default: without SMS_GATEWAY_URL it sends nothing and exits 75
# (temporary failure), so alerts stay pending — none is lost — until the
# gateway is configured. Adapt the curl line to your provider's API.
set -eu

env_file=${SMS_GATEWAY_ENV:-${TANFANG_SYSCONFDIR:-/etc/tanfang}/sms-gateway.env}
if [ -r "$env_file" ]; then
	# shellcheck disable=SC1090
	. "$env_file"
fi
SMS_GATEWAY_URL=${SMS_GATEWAY_URL:-}
SMS_GATEWAY_TOKEN=${SMS_GATEWAY_TOKEN:-}
SMS_DRY_RUN=${SMS_DRY_RUN:-0}
SMS_DROP_NO_PHONE=${SMS_DROP_NO_PHONE:-0}

alert=$(cat)
id=${TANFANG_ALERT_ID:-?}

# The phone contacts (digits, with an optional + and dashes) and the text,
# one phone per line, then a line "TEXT", then the message.
parsed=$(printf '%s' "$alert" | python3 -c '
import json, re, sys
a = json.load(sys.stdin)
for c in a.get("contacts", []):
    if re.fullmatch(r"\+?[0-9][0-9-]{4,19}", c):
        print(c.replace("-", ""))
print("TEXT")
print(a["message"].replace("\n", " "))
') || { echo "sms-gateway: alert $id: cannot parse the alert JSON" >&2; exit 1; }
phones=$(printf '%s\n' "$parsed" | sed '/^TEXT$/,$d')
text=$(printf '%s\n' "$parsed" | sed '1,/^TEXT$/d')

if [ -z "$phones" ]; then
	if [ "$SMS_DROP_NO_PHONE" = 1 ]; then
		echo "sms-gateway: alert $id: no phone number among its contacts; DROPPED" \
			"(SMS_DROP_NO_PHONE=1 in $env_file)" >&2
		exit 0
	fi
	echo "sms-gateway: alert $id: no phone number among its contacts; not sent, kept" \
		"pending (exit 67)" >&2
	exit 67
fi
if [ "$SMS_DRY_RUN" = 1 ]; then
	for p in $phones; do
		echo "sms-gateway (dry run): alert $id to $p: $text"
	done
	exit 0
fi
if [ -z "$SMS_GATEWAY_URL" ]; then
	echo "sms-gateway: SMS_GATEWAY_URL is not set in $env_file; alert $id kept pending" >&2
	exit 75
fi

status=0
for p in $phones; do
	if [ -n "$SMS_GATEWAY_TOKEN" ]; then
		auth="Authorization: Bearer $SMS_GATEWAY_TOKEN"
	else
		auth="X-No-Auth: 1"
	fi
	if curl -fsS --max-time 10 -H "$auth" -H "X-Tanfang-Alert-Id: $id" \
		--data-urlencode "phone=$p" --data-urlencode "text=$text" \
		"$SMS_GATEWAY_URL" >/dev/null; then
		echo "sms-gateway: alert $id sent to $p"
	else
		echo "sms-gateway: alert $id to $p failed" >&2
		status=1
	fi
done
exit $status
