"""moreDA on the training device, equal to batchgenerators 0.25.5 bit for bit.

v1's augmentation is a list of batchgenerators transforms run by CPU workers. Each transform does two things per
sample: it draws random numbers (from numpy's global stream, and Python's ``random`` for the Gaussian noise
variance and the Gaussian blur's sigma) and it computes on the arrays. The draws never depend on the voxel
values, only on the shapes, so they can stay on the CPU, in v1's order, while the arithmetic runs batched on the
device.

For each batchgenerators transform it replaces, a module here defines a :class:`DeviceTransform` built from the
*very object* v1's ``get_moreDA_augmentation`` creates (so its parameters cannot drift from v1's), with

* ``draw(batch_size, data_shape, seg_shape)`` — consumes the random streams exactly as the batchgenerators
  transform's ``__call__`` does for that batch and returns the values (plain Python / numpy, picklable, small
  except where batchgenerators itself draws a whole field, e.g. the Gaussian noise);
* ``apply(data, seg, draws)`` — the transform's arithmetic on ``torch`` tensors ``(b, c, *spatial)`` on any device.

See :mod:`.base` for the contract and the registry, and :mod:`.chain` for the composition of the whole moreDA
(which transform runs where, and the named CPU fallbacks).

Modules: :mod:`.base` (contract, registry), :mod:`.exact` (error-free float64 arithmetic, an exact FMA),
:mod:`.interpolation` (scipy's spline prefilter, ``map_coordinates`` and the label argmax, in torch),
:mod:`.coordinates` (the spatial transform's sampling grid), :mod:`.spatial` (``SpatialTransform``),
:mod:`.dummy_2d` (nnU-Net's 3D -> 2D fold), :mod:`.chain` (the transform chain); on a GPU with Triton the
exact kernels of :mod:`.spline_recursions`, :mod:`.interpolation`, :mod:`.numpy_power` and :mod:`.numpy_sums`
(in :mod:`.triton_prefilters`, :mod:`.triton_interpolation`, :mod:`.triton_power` and :mod:`.triton_sums`), gated
per device by :mod:`.triton_gate`.
"""
