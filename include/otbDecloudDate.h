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
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    throw std::invalid_argument("'" + text + "' is not a valid date");
  return static_cast<double>(timegm(&tm));
}
} // namespace decloud
} // namespace otb
#endif
