/*
 * Decloud: a class map (e.g. Sen2Cor's scene classification, SCL) as a cloud mask (1 = cloudy, 0 = clear).
 */
#ifndef otbDecloudClassMaskFilter_h
#define otbDecloudClassMaskFilter_h

#include "itkImageRegionConstIterator.h"
#include "itkImageRegionIterator.h"
#include "itkImageToImageFilter.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace otb
{

/**
 * \class DecloudClassMaskFilter
 * \brief One band: 1 where the input's first band holds one of the cloud classes, 0 elsewhere (other classes,
 * NaN). With the SCL and classes 3 8 9 10 (cloud shadows, clouds of medium and high probability, thin cirrus):
 * the cloud mask that decloud prepare-s2 writes.
 */
template <class TImage>
class ITK_EXPORT DecloudClassMaskFilter : public itk::ImageToImageFilter<TImage, TImage>
{
public:
  using Self = DecloudClassMaskFilter;
  using Superclass = itk::ImageToImageFilter<TImage, TImage>;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(DecloudClassMaskFilter, itk::ImageToImageFilter);

  void SetClasses(const std::vector<int>& classes)
  {
    m_Classes = classes;
    this->Modified();
  }

protected:
  DecloudClassMaskFilter() = default;
  void GenerateOutputInformation() override
  {
    Superclass::GenerateOutputInformation();
    this->GetOutput()->SetNumberOfComponentsPerPixel(1);
  }
  void ThreadedGenerateData(const typename TImage::RegionType& region, itk::ThreadIdType) override
  {
    itk::ImageRegionConstIterator<TImage> in(this->GetInput(), region);
    itk::ImageRegionIterator<TImage>      out(this->GetOutput(), region);
    typename TImage::PixelType            value(1);
    for (; !in.IsAtEnd(); ++in, ++out)
    {
      const double v = in.Get()[0];
      value[0] = std::isfinite(v) && std::find(m_Classes.begin(), m_Classes.end(), static_cast<int>(std::lround(v))) !=
                                         m_Classes.end() && std::abs(v - std::lround(v)) < 1e-6
                   ? 1
                   : 0;
      out.Set(value);
    }
  }

private:
  std::vector<int> m_Classes;
};

} // namespace otb

#endif
