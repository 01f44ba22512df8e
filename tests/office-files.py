#!/usr/bin/env python3
"""Makes the office's files for tests/e2e-import-office.sh, in a folder:
the same elder list as Excel and WPS save it (.xlsx, .xls) and as text
(UTF-8; the test turns it into GB18030 and UTF-16 with iconv), plus visitor
files. Nothing here is committed as a spreadsheet: the files are made in the
test run (issue 11, item 8).

usage: office-files.py DIR
"""
import datetime
import os
import sys

import openpyxl
import xlwt

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def idcard(area6, birth, seq):
    """An 18-digit ID-card number with its GB 11643 check digit."""
    body = "%s%s%03d" % (area6, birth, seq)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


# seq: odd for men
ID1 = idcard("152223", "19421105", 2)   # 张桂兰, female
ID2 = idcard("152223", "19380101", 11)  # 王福, male
ID3 = idcard("152223", "19450307", 4)   # 李秀英
ID4 = idcard("152223", "19501231", 6)   # 赵玉珍
ID5 = idcard("152223", "19360128", 13)  # 孟和巴雅尔

HEADER = ["序号", "姓名", "性别", "身份证号码", "出生年月", "联系电话", "家庭住址",
          "所属村（社区）", "老人类别", "包联人"]


def rows(phone1):
    return [
        ["1", "张桂兰", "", ID1, "1942-11", phone1, "巴彦乌兰嘎查3组", "巴彦乌兰嘎查",
         "独居、失能", "王海军"],
        ["2", "王福", "男", ID2, "", "13904820000", "巴彦乌兰嘎查5组", "巴彦乌兰嘎查",
         "特困供养人员", "王海军，刘建国"],
        ["3", "李秀英", "女", ID3.lower(), "1945年3月7日", "", "永安村1组", "152223100202",
         "空巢老人/留守老人", "李红梅"],
        ["4", "赵玉珍", "女", ID4, "１９５０－１２－３１", "", "五家子村二社", "五家子村",
         "计划生育特殊家庭", ""],
        ["5", "孟和巴雅尔", "男", ID5, "19360128", "", "五家子村三社", "五家子村",
         "重度残疾 失能", "宝音"],
    ]


def write_text(path, phone1, sep):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for r in [HEADER] + rows(phone1):
            f.write(sep.join(r) + "\r\n")


def write_xlsx(path, phone1):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    # A title row above the header, as offices print it.
    ws.append(["扎赉特旗特殊困难老年人花名册"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws.append(HEADER)
    for i, r in enumerate(rows(phone1)):
        r = list(r)
        r[0] = i + 1                                    # 序号 as a number
        if i == 0:
            r[4] = datetime.datetime(1942, 11, 5)       # a date cell, shown with time
        if i == 3:
            r[4] = 18628                                # 1950-12-31 as Excel's day number
        if i == 4:
            r[4] = 19360128                             # a date typed as a number
        if i == 1:
            r[5] = 13904820000                          # a phone number kept as a number
        ws.append(r)
        if i == 0:
            ws.cell(row=ws.max_row, column=5).number_format = "yyyy-mm-dd hh:mm:ss"
    wb.save(path)


def write_xls(path, phone1):
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("花名册")
    date = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for c, h in enumerate(HEADER):
        ws.write(0, c, h)
    for i, r in enumerate(rows(phone1)):
        for c, v in enumerate(r):
            if c == 0:
                ws.write(i + 1, c, i + 1)
            elif c == 4 and i == 0:
                ws.write(i + 1, c, datetime.date(1942, 11, 5), date)
            else:
                ws.write(i + 1, c, v)
    wb.save(path)


def write_visitors_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["序号", "姓名", "身份", "所属村（社区）", "联系电话", "包联老人"])
    ws.append([1, "白音", "网格员", "巴彦乌兰嘎查", "13800000001", "张桂兰、王福"])
    ws.append([2, "刘芳", "党员", "音德尔镇", "13800000002", "李秀英"])
    ws.append([3, "邻居甲", "邻里户", "巴彦乌兰嘎查", "13800000003", "张桂兰"])
    ws.append([4, "邻居乙", "邻里户", "巴彦乌兰嘎查", "13800000004", "张桂兰"])
    wb.save(path)


def write_bombs(d):
    """Zip bombs (found by an attack test: 387 KB unpacked to 265 MB of empty
    shared strings): one too large once unpacked, one small enough to
    unpack but with more texts than an office's list has."""
    import zipfile
    for name, n in (("bomb.xlsx", 53_000_000), ("bomb-texts.xlsx", 1_200_000)):
        with zipfile.ZipFile(os.path.join(d, name), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("xl/workbook.xml",
                       '<workbook><sheets><sheet name="a" sheetId="1"/></sheets></workbook>')
            z.writestr("xl/sharedStrings.xml", "<sst>" + "<si/>" * n + "</sst>")
            z.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData/></worksheet>")
    # Small once unpacked, huge once read: rows of one far-right empty cell,
    # and one long text in many cells.
    wb = '<workbook><sheets><sheet name="a" sheetId="1"/></sheets></workbook>'
    far = "".join('<row r="%d"><c r="IV%d"/></row>' % (i, i) for i in range(1, 100001))
    many = "".join('<row r="%d"><c r="A%d" t="s"><v>0</v></c></row>' % (i, i) for i in range(1, 601))
    for name, sst, rows in (("bomb-far.xlsx", "<sst/>", far),
                            ("bomb-copies.xlsx", "<sst><si><t>" + "x" * (1 << 20) + "</t></si></sst>", many)):
        with zipfile.ZipFile(os.path.join(d, name), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("xl/workbook.xml", wb)
            z.writestr("xl/sharedStrings.xml", sst)
            z.writestr("xl/worksheets/sheet1.xml", "<worksheet><sheetData>" + rows + "</sheetData></worksheet>")


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    write_text(os.path.join(d, "office-utf8.csv"), "13904821234", ",")
    write_text(os.path.join(d, "office-gb.txt"), "13900000001", ",")
    write_text(os.path.join(d, "office-u16.txt"), "13900000002", "\t")
    write_xlsx(os.path.join(d, "office.xlsx"), "13900000003")
    write_xls(os.path.join(d, "office.xls"), "13900000004")
    write_visitors_xlsx(os.path.join(d, "visitors.xlsx"))
    write_bombs(d)
    with open(os.path.join(d, "ids"), "w") as f:
        f.write(" ".join([ID1, ID2, ID3, ID4, ID5]) + "\n")
        # for the bad files: a wrong check digit, twins, a birth-date mismatch
        good = idcard("152223", "19400101", 21)
        wrong = good[:17] + ("0" if good[17] != "0" else "1")
        f.write(" ".join([wrong, idcard("152223", "19450210", 22), idcard("152223", "19440404", 31),
                          idcard("152223", "19330303", 41), idcard("152223", "19330303", 43),
                          idcard("152223", "19410101", 51), idcard("152223", "19421105", 62),
                          idcard("152223", "19390909", 71), idcard("152223", "19300303", 81)]) + "\n")


main()
