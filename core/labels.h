/* The Chinese names of the wire's enum values, as the offices say them, for
 * the clients' tables (issue 11, item 6: values in table output in Chinese,
 * English with --lang en). Client-side only; the wire carries the English
 * names (wire.h), and so do JSON outputs.
 *
 * Each function takes the enum's value and returns a static string, or NULL
 * for UNSPECIFIED or a value it does not know (the caller then shows the
 * wire name). */
#ifndef TF_LABELS_H
#define TF_LABELS_H

const char *labels_role(int role);         /* 网格员, 党员, ... */
const char *labels_category(int category); /* 独居, 失能, ... */
const char *labels_tier(int tier);         /* 一般, 重点, 高风险 */
const char *labels_status(int status);     /* 在册, 住院, 迁出, 去世 */
const char *labels_aid(int aid);           /* 助餐, 助医, ... (六助) */
const char *labels_event(int type);        /* 跌倒, 住院, ... */
const char *labels_severity(int severity); /* 一般, 警示, 紧急 */
const char *labels_kind(int kind);         /* 上门, 电话, 邻里, 健康, 党员 */

#endif
