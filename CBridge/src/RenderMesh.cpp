// Render meshes of convex primitives, built as pybullet's TinyRenderer builds them
// (examples/SharedMemory/plugins/tinyRendererPlugin/TinyRendererVisualShapeConverter.cpp, convertURDFToVisualShape):
// a cylinder or capsule becomes the convex hull of 32 points on each end circle (plus the two poles for a capsule)
// with a 1 mm margin, a sphere stays a sphere, and btShapeHull tessellates the shape from its support points. Using
// Bullet's own hull code keeps the silhouettes identical to pybullet's.
#include "CBridge.h"

#include <BulletCollision/CollisionShapes/btConvexHullShape.h>
#include <BulletCollision/CollisionShapes/btShapeHull.h>
#include <BulletCollision/CollisionShapes/btSphereShape.h>

#include <memory>

long rx_primitive_render_mesh(rx_shape_type type, const double size[3], double *vertices, long vertex_capacity,
                              long *vertex_count, int *indices, long index_capacity) {
  std::unique_ptr<btConvexShape> shape;
  switch (type) {
  case RX_SHAPE_CYLINDER:
  case RX_SHAPE_CAPSULE: {
    const btScalar rad = size[0], len = size[1];
    const int numSteps = 32;
    btAlignedObjectArray<btVector3> points;
    for (int i = 0; i < numSteps; i++) {
      // float(i) / numSteps, as the converter computes the angle.
      btVector3 v(rad * btSin(SIMD_2_PI * (float(i) / numSteps)), rad * btCos(SIMD_2_PI * (float(i) / numSteps)),
                  len / 2.);
      points.push_back(v);
      v[2] = -len / 2.;
      points.push_back(v);
    }
    if (type == RX_SHAPE_CAPSULE) {
      points.push_back(btVector3(0, 0, len / 2. + rad));
      points.push_back(btVector3(0, 0, -len / 2. - rad));
    }
    auto hull = std::make_unique<btConvexHullShape>(&points[0].x(), points.size(), sizeof(btVector3));
    hull->setMargin(0.001);
    shape = std::move(hull);
    break;
  }
  case RX_SHAPE_SPHERE: {
    auto sphere = std::make_unique<btSphereShape>(size[0]);
    sphere->setMargin(0.001);
    shape = std::move(sphere);
    break;
  }
  default:
    return -1;
  }
  btShapeHull hull(shape.get());
  if (!hull.buildHull(0.0)) return -1;
  const int nv = hull.numVertices(), ni = hull.numIndices();
  if (nv > vertex_capacity || ni > index_capacity) return -1;
  for (int i = 0; i < nv; i++) {
    const btVector3 &p = hull.getVertexPointer()[i];
    vertices[3 * i] = p.x();
    vertices[3 * i + 1] = p.y();
    vertices[3 * i + 2] = p.z();
  }
  for (int i = 0; i < ni; i++) indices[i] = int(hull.getIndexPointer()[i]);
  *vertex_count = nv;
  return ni;
}
