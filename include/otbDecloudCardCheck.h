/*
 * Decloud: does a model card describe its SavedModel? A pure check of the card against the serving signature.
 */
#ifndef otbDecloudCardCheck_h
#define otbDecloudCardCheck_h

#include "OTBDecloudExport.h"

#include "otbDecloudModelCard.h"
#include "otbTensorflowCAPI.h"

namespace otb
{
namespace decloud
{

/**
 * Throws std::runtime_error "card.json is inconsistent with the SavedModel: ..." when the card does not describe
 * `signature`: a card input (its tensor) the model does not take, an image input whose band count differs from the
 * model's channels (when the model fixes them), a model input no card input feeds, a card output (its tensor) the
 * model does not produce. The first mismatch in that order is named.
 */
OTBDecloud_EXPORT void CheckCardMatchesSignature(const ModelCard& card, const tf::Signature& signature);

} // namespace decloud
} // namespace otb

#endif
