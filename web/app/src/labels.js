// Words for the protocol's values, as the offices say them: the same
// Chinese as core/labels.c, which tanfang-super prints, so the dashboard and
// the command line name a role, a category or a status alike; in English,
// the value's own name. Area codes become names from the registry (areaName).
import { currentLang } from './i18n.js';

const ZH = {
  ROLE_GRID_WORKER: '网格员', ROLE_VILLAGE_CADRE: '村两委委员', ROLE_CIVIL_AFFAIRS_ASSISTANT: '民政协理员',
  ROLE_SOCIAL_WORKER: '社工', ROLE_VOLUNTEER: '志愿者', ROLE_PARTY_MEMBER: '党员', ROLE_HEALTH_WORKER: '医护人员',
  ROLE_NEIGHBOUR: '邻户', ROLE_SUPERVISOR: '督导', ROLE_DISPATCHER: '调度', ROLE_ADMIN: '管理员', ROLE_GATEWAY: '网关',
  CATEGORY_LIVING_ALONE: '独居', CATEGORY_EMPTY_NEST: '空巢', CATEGORY_LEFT_BEHIND: '留守',
  CATEGORY_INCAPACITATED: '失能', CATEGORY_SEVERELY_DISABLED: '重残',
  CATEGORY_FAMILY_PLANNING_SPECIAL: '计生特殊家庭', CATEGORY_EXTREME_POVERTY: '特困',
  RISK_TIER_GENERAL: '一般', RISK_TIER_KEY: '重点', RISK_TIER_HIGH: '高风险',
  ELDER_STATUS_ACTIVE: '在册', ELDER_STATUS_HOSPITALISED: '住院', ELDER_STATUS_MOVED_AWAY: '迁出',
  ELDER_STATUS_DECEASED: '去世', ELDER_STATUS_REMOVED: '已移除',
  VISIT_KIND_DOOR: '上门', VISIT_KIND_PHONE: '电话', VISIT_KIND_NEIGHBOUR_CHECK: '邻里', VISIT_KIND_HEALTH: '健康',
  VISIT_KIND_PARTY_MEMBER: '党员',
  CARE_EVENT_TYPE_FALL: '跌倒', CARE_EVENT_TYPE_ILLNESS: '患病', CARE_EVENT_TYPE_HOSPITALISED: '住院',
  CARE_EVENT_TYPE_DISCHARGED: '出院', CARE_EVENT_TYPE_EMERGENCY_CALL: '紧急呼叫', CARE_EVENT_TYPE_HAZARD_FOUND: '发现隐患',
  CARE_EVENT_TYPE_SERVICE_DELIVERED: '服务送达', CARE_EVENT_TYPE_HOTLINE_REQUEST: '12345诉求',
  CARE_EVENT_TYPE_MOVED_AWAY: '迁出', CARE_EVENT_TYPE_DECEASED: '去世',
  SEVERITY_INFO: '一般', SEVERITY_WARNING: '警示', SEVERITY_URGENT: '紧急',
  AID_MEALS: '助餐', AID_MEDICAL: '助医', AID_MOBILITY: '助行', AID_CLEANING: '助洁', AID_BATHING: '助浴', AID_EMERGENCY: '助急',
  FINDING_OK: '正常', FINDING_CONCERN: '关注', FINDING_URGENT: '紧急',
};

// The short names the forms and files use (grid_worker, living_alone), by
// their enum prefix.
const PREFIX = { role: 'ROLE_', category: 'CATEGORY_' };

// The word for an enum value ('ROLE_GRID_WORKER', or with kind, the short
// name 'grid_worker'). Unknown or unset: the value itself, or ''.
export function label(value, kind) {
  const full = kind ? `${PREFIX[kind]}${String(value).toUpperCase()}` : String(value || '');
  if (!full || /_UNSPECIFIED$/.test(full)) return '';
  if (currentLang() === 'zh' && ZH[full]) return ZH[full];
  return full.replace(/^(ROLE|CATEGORY|RISK_TIER|ELDER_STATUS|VISIT_KIND|CARE_EVENT_TYPE|SEVERITY|AID|FINDING)_/, '').toLowerCase();
}

// A rule as the policy labels it (OverdueItem.rule_label), else the
// daemon's own pseudo-rule, else its name.
export function ruleLabel(rule, policyLabel) {
  if (currentLang() !== 'zh') return rule;
  if (policyLabel) return policyLabel;
  return rule === '1+2_not_set_up' ? '1+2未落实' : rule;
}

// Area names of the signer's scope, fetched once a page load (list: the
// app's get_registry pager, returning [{code, name}] or null).
let areas = null;
export async function areaNames(list) {
  if (!areas) {
    const all = await list();
    if (!all) return new Map();
    areas = new Map(all.map((a) => [a.code, a.name]));
  }
  return areas;
}
export function forgetAreaNames() {
  areas = null;
}
