"""The WAE-ResNet WAE-GAN train step in PyTorch eager, to put `train_step.py`'s numbers beside.

  python benchmarks/torch_reference_step.py [--size=128] [--batch=16] [--dtype=float32|bfloat16]
      [--channels-last] [--device=cpu|cuda] [--tf32] [--compile] [--json]

Needs torch (not a dependency of wae-jax; use a separate environment, e.g.
`pip install --no-deps 'torch==2.13.0+cpu'` plus sympy, networkx, jinja2, filelock, fsspec).
Same layers and parameter counts as `configs/wae_resnet.py` (printed, to check against
`launch.py --mode=summary`), same step: the discriminator on the detached codes, then the
auto-encoder through the updated discriminator, one encoder forward, two Adams. Timed like
train_step.py: one warm-up step, then the median of --rounds rounds of --steps steps.

--dtype=bfloat16 runs the forward passes under `torch.autocast` (parameters, optimizer state
and the loss stay float32), as `config.dtype='bfloat16'` does on our side. On CUDA, float32
is strict unless --tf32 lets matrix products and convolutions use TensorFloat-32 (what JAX
does by default there); --compile times `torch.compile` of the three networks.
"""

import argparse
import json
import os
import statistics
import sys
import time

try:
  import torch
  from torch import nn
  from torch.nn import functional as F
except ModuleNotFoundError:
  sys.exit('torch_reference_step.py needs PyTorch: pip install torch')


def batch_norm(channels: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(channels, momentum=0.01, eps=1e-3)  # Keras momentum 0.99


class Bottleneck(nn.Module):
  """1x1 (stride s) -> 3x3 -> 1x1, each with BN, plus identity or 1x1 /s + BN shortcut."""

  def __init__(self, in_channels, filters, stride, project):
    super().__init__()
    f1, f2, f3 = filters
    self.conv1, self.bn1 = nn.Conv2d(in_channels, f1, 1, stride), batch_norm(f1)
    self.conv2, self.bn2 = nn.Conv2d(f1, f2, 3, 1, 1), batch_norm(f2)
    self.conv3, self.bn3 = nn.Conv2d(f2, f3, 1), batch_norm(f3)
    self.shortcut = (nn.Sequential(nn.Conv2d(in_channels, f3, 1, stride), batch_norm(f3))
                     if project else nn.Identity())

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    y = F.relu(self.bn2(self.conv2(y)))
    return F.relu(self.shortcut(x) + self.bn3(self.conv3(y)))


def resnet_encoder(size: int, latent: int) -> nn.Module:
  layers = [nn.ZeroPad2d(2), nn.Conv2d(3, 64, 7, 2), batch_norm(64), nn.ReLU(), nn.MaxPool2d(3, 1)]
  channels = 64
  for filters, stride, identity_blocks in [((64, 64, 256), 1, 2), ((128, 128, 512), 2, 3),
                                           ((256, 256, 1024), 2, 3), ((512, 512, 2048), 2, 3)]:
    layers.append(Bottleneck(channels, filters, stride, project=True))
    channels = filters[2]
    layers += [Bottleneck(channels, filters, 1, project=False) for _ in range(identity_blocks)]
  layers += [nn.AvgPool2d(2), nn.Flatten()]
  with torch.no_grad():
    flat = nn.Sequential(*layers)(torch.zeros(1, 3, size, size)).shape[1]
  return nn.Sequential(*layers, nn.Linear(flat, latent))


class WAEDecoder(nn.Module):
  """Dense 4x4x2048 + BN + ReLU, transposed convs 5x5 /2 (1024, 512, ...) + BN + ReLU, -> 3, sigmoid."""

  def __init__(self, size: int, latent: int):
    super().__init__()
    self.dense = nn.Linear(latent, 4 * 4 * 2048)
    self.norm = nn.BatchNorm1d(4 * 4 * 2048, momentum=0.01, eps=1e-3)
    upsamplings = size.bit_length() - 3  # log2(size / 4)
    layers, channels = [], 2048
    for features in (1024, 512, 256, 128)[:upsamplings - 1]:
      layers += [nn.ConvTranspose2d(channels, features, 5, 2, 2, output_padding=1),
                 batch_norm(features), nn.ReLU()]
      channels = features
    layers += [nn.ConvTranspose2d(channels, 3, 5, 2, 2, output_padding=1), nn.Sigmoid()]
    self.body = nn.Sequential(*layers)

  def forward(self, z):
    return self.body(F.relu(self.norm(self.dense(z))).view(-1, 2048, 4, 4))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--size', type=int, default=128)
  parser.add_argument('--batch', type=int, default=16)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                      help='bfloat16: forward passes under torch.autocast')
  parser.add_argument('--channels-last', action='store_true', help='NHWC memory format')
  parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
  parser.add_argument('--tf32', action='store_true', help='CUDA float32 with TensorFloat-32')
  parser.add_argument('--compile', action='store_true', help='torch.compile the networks')
  parser.add_argument('--json', action='store_true', help='print one JSON object as the last line')
  args = parser.parse_args()
  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(0)
  device = torch.device(args.device)
  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32
  torch.backends.cudnn.benchmark = True
  latent, lam, sigma_z, cost_scale = 64, 1.0, 1.414, 0.05
  encoder, decoder = resnet_encoder(args.size, latent), WAEDecoder(args.size, latent)
  discriminator = nn.Sequential(
      *[layer for i in range(4) for layer in (nn.Linear(latent if i == 0 else 512, 512), nn.ReLU())],
      nn.Linear(512, 1))
  encoder, decoder, discriminator = (m.to(device) for m in (encoder, decoder, discriminator))
  images = torch.rand(args.batch, 3, args.size, args.size, device=device)
  if args.channels_last:
    encoder, decoder = (m.to(memory_format=torch.channels_last) for m in (encoder, decoder))
    images = images.contiguous(memory_format=torch.channels_last)
  ae_optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], 3e-4,
                                  betas=(0.5, 0.999))
  disc_optimizer = torch.optim.Adam(discriminator.parameters(), 1e-3, betas=(0.5, 0.999))

  if args.compile:
    encoder, decoder, discriminator = (torch.compile(m) for m in (encoder, decoder, discriminator))
  autocast = torch.autocast(args.device, torch.bfloat16, enabled=args.dtype == 'bfloat16')

  def step():
    with autocast:
      codes = encoder(images)
      prior = sigma_z * torch.randn_like(codes)
      disc_loss = lam * (F.softplus(-discriminator(prior))
                         + F.softplus(discriminator(codes.detach()))).float().mean()
    disc_optimizer.zero_grad()
    disc_loss.backward()
    disc_optimizer.step()
    with autocast:
      cost = cost_scale * ((decoder(codes).float() - images) ** 2).sum(dim=(1, 2, 3)).mean()
      loss = cost + lam * F.softplus(-discriminator(codes)).float().mean()
    ae_optimizer.zero_grad()
    loss.backward()
    ae_optimizer.step()

  def synchronize():
    if device.type == 'cuda':
      torch.cuda.synchronize()

  start = time.perf_counter()
  step()  # warm-up (and compilation with --compile: two steps)
  if args.compile:
    step()
  synchronize()
  warmup_s = time.perf_counter() - start
  seconds = []
  for _ in range(args.rounds):
    start = time.perf_counter()
    for _ in range(args.steps):
      step()
    synchronize()
    seconds.append((time.perf_counter() - start) / args.steps)
  images_per_s = args.batch / statistics.median(seconds)
  counts = {name: sum(p.numel() for p in module.parameters())
            for name, module in [('encoder', encoder), ('decoder', decoder),
                                 ('discriminator', discriminator)]}
  where = (torch.cuda.get_device_name() if device.type == 'cuda'
           else f'{torch.get_num_threads()} CPU threads')
  precision = args.dtype + (' autocast' if args.dtype == 'bfloat16' else ' TF32' if args.tf32 else '')
  print(f'torch {torch.__version__}, {where}, {precision}, '
        f'{"NHWC" if args.channels_last else "NCHW"}{", compiled" if args.compile else ", eager"}; '
        f'median of {args.rounds} rounds x {args.steps} steps (warm-up {warmup_s:.1f} s)')
  print(f'WAE-ResNet {args.size}x{args.size}, batch {args.batch}: {images_per_s:.2f} img/s')
  print('params: ' + ', '.join(f'{name} {count:,}' for name, count in counts.items()))
  if args.json:
    print(json.dumps({'images_per_s': round(images_per_s, 2), 'size': args.size, 'batch': args.batch,
                      'torch': torch.__version__, 'threads': torch.get_num_threads(),
                      'channels_last': args.channels_last, 'params': counts,
                      'dtype': args.dtype, 'device': where, 'tf32': args.tf32,
                      'compile': args.compile, 'warmup_s': round(warmup_s, 1)}))


if __name__ == '__main__':
  main()
