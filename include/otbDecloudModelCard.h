/*
 * Decloud: the model card (card.json next to a SavedModel), read by the applications.
 */
#ifndef otbDecloudModelCard_h
#define otbDecloudModelCard_h

#include "OTBDecloudExport.h"

#include <string>
#include <vector>

namespace otb
{
namespace decloud
{

/**
 * One model input: an image role (s2_t, s1_tm1, dem, s2_20m_t...), a mask (kind "mask": cloud_t, the cloud
 * mask of s2_t as 0/1, no nodata) or a timestamp (kind "timestamp": s2_timestamp_t). The role says what the input
 * is fed (DecloudInfer's parameter); the tensor is the SavedModel's input it feeds, the card's key: the same name
 * but for models whose input has another name (the original Decloud's crga_os1_unet_impostor takes S1 at t as
 * "s1_target": its card's key s1_target with "role": "s1_t").
 */
struct CardInput
{
  std::string              role;
  std::string              tensor;
  std::string              sensor;
  bool                     timestamp = false;
  bool                     mask = false; // kind "mask": values 0 (clear) / 1 (cloudy), never nodata
  std::vector<std::string> bands;
  unsigned int             scale = 1; // pixel size relative to 10 m
  bool                     hasNodata = false;
  double                   nodata = 0.0;
};

struct CardOutput
{
  std::string              key;
  std::vector<std::string> bands;
  unsigned int             scale = 1;
  std::string              tensor; // the SavedModel's output key ("tensor" in the card; the key itself without it)
};

/**
 * The card of a Decloud SavedModel (format 1, written by decloud.card.export_model). Read() throws
 * std::runtime_error with a message naming the file and what is wrong.
 *
 * Keys read: format, name, network, spatial_multiple, holes (optional: "model"), inputs (per SavedModel input:
 * role (the key by default; two inputs cannot have one role), sensor, kind ("image" by default, "mask" or
 * "timestamp"), bands, scale, nodata), outputs (per key: bands, scale, and
 * optionally tensor: the SavedModel's own output name when it differs from the key, as in the cards that
 * `decloud import-model` writes for the original Decloud's SavedModels).
 */
struct OTBDecloud_EXPORT ModelCard
{
  std::string             path;
  std::string             name;
  std::string             network;
  std::vector<CardInput>  inputs;
  std::vector<CardOutput> outputs;
  unsigned int            spatialMultiple = 1;
  /**
   * "holes": "model": the graph completes the nodata pixels of its S2 inputs itself (from whichever dates
   * have data there) and writes nodata only where no S2 input has data. False without the key.
   */
  bool                    modelFillsHoles = false;

  static ModelCard Read(const std::string& modelDir);

  /** The input of a role, or nullptr. */
  const CardInput*  FindInput(const std::string& role) const;
  /** The input that feeds the SavedModel's input `tensor`, or nullptr. */
  const CardInput*  FindTensor(const std::string& tensor) const;
  const CardOutput* FindOutput(const std::string& key) const;
  /** Name of `base` (e.g. s2_target) cropped by `padding` pixels on each side: base_crop<N>, or base for 0. */
  static std::string CroppedOutput(const std::string& base, unsigned int padding);
  /** Paddings offered for `base` (0 when the card has `base` itself, plus each crop output of the card). */
  std::vector<unsigned int> Paddings(const std::string& base) const;
};

} // namespace decloud
} // namespace otb

#endif
