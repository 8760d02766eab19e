/*
 * Unit test of decloud::CheckCardMatchesSignature, in memory (a card and a serving signature, no SavedModel): a
 * matching card passes (unknown channels, timestamps, an input fed under another tensor name); each mismatch is
 * named: a card input the model lacks, a band count, a model input no card input feeds, a card output the model lacks.
 */
#include "otbDecloudUnitTest.h"
#include "otbDecloudCardCheck.h"

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

namespace
{
using otb::decloud::CheckCardMatchesSignature;
using otb::decloud::ModelCard;
using otb::tf::Signature;
using otb::tf::TensorSpec;

using otb::decloud::unittest::Check;
using otb::decloud::unittest::CheckEqual;

TensorSpec Spec(const std::string& key, int64_t channels)
{
  TensorSpec spec;
  spec.key = key;
  spec.tensorName = "serving_default_" + key + ":0";
  spec.unknownRank = channels == 0;
  if (channels > 0)
    spec.shape = {-1, -1, -1, channels};
  return spec;
}

/** A card: s2_t (4 bands), s1_t fed to tensor s1_target (2 bands), a timestamp; output s2_target. */
ModelCard Card()
{
  ModelCard card;
  card.name = "toy";
  card.inputs.resize(3);
  card.inputs[0].role = card.inputs[0].tensor = "s2_t";
  card.inputs[0].bands = {"B2", "B3", "B4", "B8"};
  card.inputs[1].role = "s1_t";
  card.inputs[1].tensor = "s1_target";
  card.inputs[1].bands = {"VV", "VH"};
  card.inputs[2].role = card.inputs[2].tensor = "s2_timestamp_t";
  card.inputs[2].timestamp = true;
  card.outputs.resize(1);
  card.outputs[0].key = card.outputs[0].tensor = "s2_target";
  return card;
}

Signature Sig()
{
  Signature sig;
  sig.name = "serving_default";
  sig.inputs = {Spec("s1_target", 2), Spec("s2_t", 4), Spec("s2_timestamp_t", 1)};
  sig.outputs = {Spec("s2_target", 4)};
  return sig;
}

std::string Error(const ModelCard& card, const Signature& sig)
{
  try
  {
    CheckCardMatchesSignature(card, sig);
  }
  catch (const std::runtime_error& e)
  {
    return e.what();
  }
  return "";
}

void Expect(const ModelCard& card, const Signature& sig, const std::string& expected, const std::string& what)
{
  const std::string got = Error(card, sig);
  Check(got == expected, what + ": got '" + got + "', expected '" + expected + "'");
}
} // namespace

int main()
{
  const std::string prefix = "card.json is inconsistent with the SavedModel: ";
  Expect(Card(), Sig(), "", "a matching card");
  Signature sig = Sig();
  sig.inputs[1] = Spec("s2_t", 0);
  Expect(Card(), sig, "", "channels the model does not fix");
  sig = Sig();
  sig.inputs[2] = Spec("s2_timestamp_t", 3);
  Expect(Card(), sig, "", "a timestamp's channels are not bands");

  ModelCard card = Card();
  card.inputs[1].tensor = "s1_t";
  Expect(card, Sig(), prefix + "the card names input 's1_t', the model's inputs are s1_target, s2_t, s2_timestamp_t",
         "a card input the model does not take");
  card = Card();
  card.inputs[0].bands.pop_back();
  Expect(card, Sig(), prefix + "input 's2_t' has 3 bands in the card, 4 in the model", "a band count");
  sig = Sig();
  sig.inputs.push_back(Spec("dem", 1));
  Expect(Card(), sig, prefix + "the model's input 'dem' is not in the card", "a model input the card does not feed");
  card = Card();
  card.outputs[0].tensor = "s2_estim";
  Expect(card, Sig(), prefix + "the card names output 's2_estim', the model's outputs are s2_target",
         "a card output the model does not produce");
  // The first mismatch, in the order inputs, model inputs, outputs.
  card = Card();
  card.outputs[0].tensor = "s2_estim";
  sig = Sig();
  sig.inputs.push_back(Spec("dem", 1));
  Expect(card, sig, prefix + "the model's input 'dem' is not in the card", "the inputs first");

  return otb::decloud::unittest::Finish();
}
