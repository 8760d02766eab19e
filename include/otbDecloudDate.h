/*
 * Decloud: dates given to the applications (YYYY-MM-DD, YYYYMMDD, optionally THH:MM[:SS] / THHMMSS, UTC).
 */
#ifndef otbDecloudDate_h
#define otbDecloudDate_h

#include <ctime>
#include <regex>
#include <stdexcept>
#include <string>

namespace otb
{
namespace decloud
{
/** Seconds since 1970-01-01 UTC; throws std::invalid_argument on anything else than the formats above. */
inline double ParseDate(const std::string& text)
{
  static const std::regex pattern(R"(^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2}))?Z?)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, pattern))
    throw std::invalid_argument("'" + text + "' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, UTC)");
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = m[4].matched ? std::stoi(m[4]) : 0;
  tm.tm_min = m[5].matched ? std::stoi(m[5]) : 0;
  tm.tm_sec = m[6].matched ? std::stoi(m[6]) : 0;
  if (tm.tm_mon < 0 || tm.tm_mon > 11)
    throw std::invalid_argument("'" + text + "' is not a valid date: there is no month " + std::string(m[2]));
  const int  year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int  inMonth = days[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
  if (tm.tm_mday < 1 || tm.tm_mday > inMonth)
    throw std::invalid_argument("'" + text + "' is not a valid date: " + std::string(m[1]) + "-" + std::string(m[2]) +
                                " has " + std::to_string(inMonth) + " days");
  if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
    throw std::invalid_argument("'" + text + "' is not a valid date: the time of day is out of range");
  return static_cast<double>(timegm(&tm));
}
} // namespace decloud
} // namespace otb
#endif
