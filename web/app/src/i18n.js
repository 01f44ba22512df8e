// Chinese first, with an English switch (issue 9, item 3). The choice is
// kept in localStorage.
const TEXT = {
  zh: {
    overview: '总览', overdue: '逾期名单', key: '本机密钥', lang: 'English',
    loading: '加载中…',
    notEnrolled: '这台浏览器的密钥尚未登记（或已被吊销）。请把下面的公钥交给管理员登记：',
    keyTitle: '本机密钥',
    keyHelp: '此密钥在本浏览器中生成，私钥无法导出。管理员用 tanfang-admin key enrol 登记此公钥后，刷新本页即可使用。',
    publicKey: '公钥（十六进制）',
    gw0: '无法连接服务器（网络中断）。', gw413: '请求过大。', gw429: '请求过于频繁，请稍后再试。',
    gw502: '探访服务未运行或拒绝了网关，请联系管理员。', gw504: '探访服务响应超时，请稍后再试。',
    gwOther: '网关错误', refused: '请求被拒绝',
    noWebCrypto: '此浏览器不支持 Ed25519 签名（WebCrypto），请使用新版 Chromium、Chrome 或 Edge。',
    thisMonth: '本月', lastMonth: '上月', visitRate: '探访率', area: '区域', required: '应探访',
    visited: '已探访', partyRate: '党员包联完成', neighbourRate: '“1+2”完成', notSetUp: '未落实“1+2”',
    overdueNow: '当前逾期', atLeast: '至少', byRule: '按规则', rule: '规则',
    elder: '老人', dueSince: '逾期自', lastVisit: '上次探访', holder: '责任人', days: '天',
    filter: '筛选', visitor: '探访人', within: '几天内到期', prev: '上一页', next: '下一页',
    exportCsv: '导出全部（CSV）', exportXlsx: '导出全部（Excel）', sortBy: '排序', never: '从未', of: '共', rows: '条', trend: '近12个月探访率',
    activity: '探访人工作量', period: '期间（YYYY-MM 或 YYYY-Qn）', visits: '探访次数', door: '入户',
    phone: '电话', neighbourChecks: '邻里查看', elders: '探访老人数', flagged: '存疑标记', role: '角色',
    elderTitle: '老人档案', history: '探访与事件记录', name: '姓名', address: '地址', phoneNo: '电话',
    birth: '出生日期', categories: '类别', status: '状态', tier: '风险等级', neighbours: '“1+2”邻里户',
    visitorsOf: '包联人', when: '时间', what: '内容', by: '记录人', flags: '标记', corrected: '已更正',
    visit: '探访', event: '事件', note: '备注', findings: '发现', show: '查看', registryChange: '登记变更',
    map: '分布图', onTime: '按时', overdueNow2: '有逾期', noLocation: '无坐标的老人', lon: '经度', lat: '纬度',
    areas: '区划', eldersTitle: '老人名册', visitorsTitle: '探访人', keysTitle: '设备密钥',
    code: '区划代码', contact: '联系方式', parent: '上级区划', addArea: '新增区划', save: '保存', saved: '已保存',
    edit: '修改', addElder: '新增老人', elderId: '编号', search: '搜索', visitorId: '探访人编号',
    addVisitor: '新增探访人', householdHelp: '“1+2”邻里户是角色为 neighbour 的探访人；在老人档案的“1+2”邻里户一栏填写其编号。',
    enrol: '登记密钥', enrolHelp: '粘贴（或扫描二维码得到的）64位十六进制公钥，并填写持有人的探访人编号。',
    importTitle: '导入名册', importHelp: '选择办公室的老人或探访人名册（CSV、Excel 的 .xlsx 或 .xls；表头照办公室的写法，见 tanfang-admin 文档）。村（社区）、包联人可写名称。先检查：列出每一处问题及其行、列，不保存任何数据；没有问题才能导入，全部导入或全部不导入。',
    chooseFile: '请先选择名册文件。',
    otherRules: '其他', noSuchArea: '没有这个区域：请从列表中选择村（社区）、乡镇的名称，或填写区划代码。',
    noSuchRule: '没有这条规则，请从列表中选择', noSuchVisitor: '没有这个探访人编号。', outOfScope: '不在您的管辖范围内',
    badWithin: '“几天内到期”应为0到366之间的整数。', daysOverdue: '逾期天数',
    living: '基本生活', safety: '安全风险', family: '家庭赡养', care: '关爱保护', needs: '需要的帮助',
    followUp: '需要跟进', minutes: '分钟', location: '位置',
    importKind: '名册', importElders: '老人', importVisitors: '探访人（网格员、党员、邻里户）', importMap: '其他表头（表头=字段）', importRole: '无“身份”列时的身份',
    elderFile: '名册文件', importCheck: '检查', importGo: '导入', fileProblems: '文件中的问题',
    badKey: '公钥应为64位十六进制数字。', scanImage: '扫描二维码图片', scanCamera: '用摄像头扫描',
    scanned: '已读取公钥，请填写探访人编号后登记。', noQr: '没有读到密钥二维码。', noCamera: '无法使用摄像头', revoke: '吊销', revoked: '已吊销', revokeConfirm: '吊销后此密钥永久失效，确定吊销？',
  },
  en: {
    overview: 'Overview', overdue: 'Overdue', key: 'This device', lang: '中文',
    loading: 'Loading…',
    notEnrolled: "This browser's key is not enrolled (or was revoked). Give this public key to the administrator:",
    keyTitle: "This browser's key",
    keyHelp: 'Made in this browser; the private key cannot be exported. Once the administrator enrols the public key (tanfang-admin key enrol), reload this page.',
    publicKey: 'Public key (hex)',
    gw0: 'Cannot reach the server (no network).', gw413: 'Request too large.', gw429: 'Too many requests; try again shortly.',
    gw502: 'The visit service is down or refused the gateway; call the administrator.', gw504: 'The visit service did not answer in time; try again.',
    gwOther: 'Gateway error', refused: 'Refused',
    noWebCrypto: 'This browser cannot sign with Ed25519 (WebCrypto); use a current Chromium, Chrome or Edge.',
    thisMonth: 'This month', lastMonth: 'Last month', visitRate: 'Visit rate', area: 'Area', required: 'Required',
    visited: 'Visited', partyRate: 'Party members done', neighbourRate: '"1+2" done', notSetUp: '"1+2" not set up',
    overdueNow: 'Overdue now', atLeast: 'at least', byRule: 'By rule', rule: 'Rule',
    elder: 'Elder', dueSince: 'Due since', lastVisit: 'Last visit', holder: 'Duty of', days: 'days',
    filter: 'Filter', visitor: 'Visitor', within: 'Due within (days)', prev: 'Previous', next: 'Next',
    exportCsv: 'Export all (CSV)', exportXlsx: 'Export all (Excel)', sortBy: 'Sort by', never: 'never', of: 'of', rows: 'rows', trend: 'Visit rate, last 12 months',
    activity: 'Visitor activity', period: 'Period (YYYY-MM or YYYY-Qn)', visits: 'Visits', door: 'Door',
    phone: 'Phone', neighbourChecks: 'Neighbour checks', elders: 'Elders visited', flagged: 'Flagged', role: 'Role',
    elderTitle: 'Elder', history: 'Visits and events', name: 'Name', address: 'Address', phoneNo: 'Phone',
    birth: 'Born', categories: 'Categories', status: 'Status', tier: 'Risk tier', neighbours: '"1+2" households',
    visitorsOf: 'Assigned visitors', when: 'When', what: 'What', by: 'By', flags: 'Flags', corrected: 'corrected',
    visit: 'Visit', event: 'Event', note: 'Note', findings: 'Findings', show: 'Show', registryChange: 'Registry',
    map: 'Map', onTime: 'On time', overdueNow2: 'Overdue', noLocation: 'Elders without a location', lon: 'Longitude', lat: 'Latitude',
    areas: 'Areas', eldersTitle: 'Elders', visitorsTitle: 'Visitors', keysTitle: 'Device keys',
    code: 'Code', contact: 'Contact', parent: 'Parent', addArea: 'Add an area', save: 'Save', saved: 'Saved',
    edit: 'Edit', addElder: 'Add an elder', elderId: 'Id', search: 'Search', visitorId: 'Visitor id',
    addVisitor: 'Add a visitor', householdHelp: 'A "1+2" household is a visitor of role neighbour; name it in the elder\'s "1+2" households.',
    enrol: 'Enrol a key', enrolHelp: 'Paste (or scan from its QR code) the 64 hex digits of the public key, and the visitor id of its holder.',
    importTitle: 'Import', importHelp: "Choose the office's list of elders or visitors (CSV, Excel .xlsx or .xls, with the office's own headers, as for tanfang-admin). Villages and visitors may be named. Check first: every problem is listed with its row and column and nothing is stored; only a clean file can be imported, all or nothing.",
    chooseFile: 'Choose the file first.',
    otherRules: 'Other', noSuchArea: 'No such area: choose a village or township by its name from the list, or give its code.',
    noSuchRule: 'No such rule; choose one from the list', noSuchVisitor: 'No visitor with this id.', outOfScope: 'Outside your scope',
    badWithin: '"Due within" is a whole number of days from 0 to 366.', daysOverdue: 'Days overdue',
    living: 'Basic living', safety: 'Safety', family: 'Family support', care: 'Care', needs: 'Help needed',
    followUp: 'follow-up needed', minutes: 'min', location: 'at',
    importKind: 'List of', importElders: 'elders', importVisitors: 'visitors (grid workers, party members, neighbour households)', importMap: 'Other headers (header=field)', importRole: 'Role, if the file has no role column',
    elderFile: 'Elder file', importCheck: 'Check', importGo: 'Import', fileProblems: 'Problems in the file',
    badKey: 'A public key is 64 hex digits.', scanImage: 'Scan a QR code image', scanCamera: 'Scan with the camera',
    scanned: 'Key read: give the visitor id and enrol it.', noQr: 'No key QR code found.', noCamera: 'Cannot use the camera', revoke: 'Revoke', revoked: 'revoked', revokeConfirm: 'A revoked key stays revoked for good. Revoke it?',
  },
};

let lang = localStorage.getItem('tanfang-lang') === 'en' ? 'en' : 'zh';

export function t(key) {
  return TEXT[lang][key] ?? key;
}
export function currentLang() {
  return lang;
}
export function toggleLang() {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('tanfang-lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}
