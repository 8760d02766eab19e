/*
 * Decloud: the message of an ITK exception without its "itk::ERROR: Class(0x...): " prefix, for the
 * one-line errors that apps show users.
 */
#ifndef otbDecloudExceptionMessage_h
#define otbDecloudExceptionMessage_h

#include "itkExceptionObject.h"

#include <string>

namespace otb
{
inline std::string ExceptionMessage(const itk::ExceptionObject& e)
{
  std::string text = e.GetDescription();
  const std::string tag = "itk::ERROR: ";
  if (text.rfind(tag, 0) == 0)
  {
    const size_t end = text.find("): ");
    if (end != std::string::npos)
      text = text.substr(end + 3);
  }
  return text.substr(0, text.find_last_not_of(" \n") + 1);
}
} // namespace otb

#endif
