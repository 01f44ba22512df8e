#include "idcard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int idcard_check(const char *s, char birth[11], bool *male)
{
	static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	if (strlen(s) != 18)
		return -EINVAL;
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		sum += (s[i] - '0') * weight[i];
	}
	if (!((s[17] >= '0' && s[17] <= '9') || s[17] == 'X'))
		return -EINVAL;
	int y = 0, m = 0, d = 0;
	for (int i = 6; i < 10; i++)
		y = y * 10 + (s[i] - '0');
	m = (s[10] - '0') * 10 + (s[11] - '0');
	d = (s[12] - '0') * 10 + (s[13] - '0');
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1880 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return -EINVAL;
	if (check[sum % 11] != s[17])
		return -EBADMSG;
	if (birth) {
		char buf[32];
		snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
		memcpy(birth, buf, 11);
	}
	if (male)
		*male = (s[16] - '0') % 2 == 1;
	return 0;
}
