#include "labels.h"

#include <stddef.h>

/* Indexed by the enum value (proto/tanfang.proto); [0] is UNSPECIFIED. */
static const char *const roles[] = {"",       "网格员", "村两委委员", "民政协理员", "社工",
                                    "志愿者", "党员",   "医护人员",   "邻户",       "督导",
                                    "调度",   "管理员", "网关"};
static const char *const categories[] = {"",     "独居", "空巢",         "留守",
                                         "失能", "重残", "计生特殊家庭", "特困"};
static const char *const tiers[] = {"", "一般", "重点", "高风险"};
static const char *const statuses[] = {"", "在册", "住院", "迁出", "去世", "已移除"};
static const char *const aids[] = {"", "助餐", "助医", "助行", "助洁", "助浴", "助急"};
static const char *const events[] = {"",          "跌倒",     "患病",     "住院",
                                     "出院",      "紧急呼叫", "发现隐患", "服务送达",
                                     "12345诉求", "迁出",     "去世"};
static const char *const severities[] = {"", "一般", "警示", "紧急"};
static const char *const kinds[] = {"", "上门", "电话", "邻里", "健康", "党员"};

static const char *pick(const char *const *names, size_t n, int v)
{
	return v > 0 && (size_t)v < n ? names[v] : NULL;
}

#define PICK(names, v) pick(names, sizeof names / sizeof names[0], v)

const char *labels_role(int role)
{
	return PICK(roles, role);
}
const char *labels_category(int category)
{
	return PICK(categories, category);
}
const char *labels_tier(int tier)
{
	return PICK(tiers, tier);
}
const char *labels_status(int status)
{
	return PICK(statuses, status);
}
const char *labels_aid(int aid)
{
	return PICK(aids, aid);
}
const char *labels_event(int type)
{
	return PICK(events, type);
}
const char *labels_severity(int severity)
{
	return PICK(severities, severity);
}
const char *labels_kind(int kind)
{
	return PICK(kinds, kind);
}
