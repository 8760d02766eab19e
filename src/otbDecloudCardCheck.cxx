#include "otbDecloudCardCheck.h"

#include <sstream>
#include <stdexcept>

namespace otb
{
namespace decloud
{
namespace
{
[[noreturn]] void fail(const std::string& what)
{
  throw std::runtime_error("card.json is inconsistent with the SavedModel: " + what);
}
} // namespace

void CheckCardMatchesSignature(const ModelCard& card, const tf::Signature& sig)
{
  for (const auto& in : card.inputs)
  {
    const tf::TensorSpec* spec = sig.FindInput(in.tensor);
    if (!spec)
      fail("the card names input '" + in.tensor + "', the model's inputs are " + tf::Signature::Keys(sig.inputs));
    if (!in.timestamp && spec->NumberOfChannels() > 0 && spec->NumberOfChannels() != static_cast<int64_t>(in.bands.size()))
    {
      std::ostringstream msg;
      msg << "input '" << in.tensor << "' has " << in.bands.size() << " bands in the card, " << spec->NumberOfChannels()
          << " in the model";
      fail(msg.str());
    }
  }
  for (const auto& spec : sig.inputs)
    if (!card.FindTensor(spec.key))
      fail("the model's input '" + spec.key + "' is not in the card");
  for (const auto& out : card.outputs)
    if (!sig.FindOutput(out.tensor))
      fail("the card names output '" + out.tensor + "', the model's outputs are " + tf::Signature::Keys(sig.outputs));
}

} // namespace decloud
} // namespace otb
