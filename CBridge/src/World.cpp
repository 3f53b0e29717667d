// The Bullet multibody world. The simulation module (ReflexSim) builds arms and objects on top of it.
//
// Arms are built the way pybullet's URDF importer builds them (examples/Importers/ImportURDFDemo/URDF2Bullet.cpp,
// loadURDF with URDF_USE_INERTIA_FROM_FILE): one btMultiBody, links in depth-first order, each link's frame at
// its inertial frame (the URDF inertia diagonalized), a joint-limit constraint per limited joint, and one
// btMultiBodyJointMotor per movable joint, which is what pybullet's POSITION_CONTROL drives. World parameters
// are pybullet's defaults (PhysicsServerCommandProcessor::createEmptyDynamicsWorld), and joint damping is the
// explicit torque -d * qdot pybullet adds before each step.
#include "CBridge.h"

#include <BulletCollision/CollisionShapes/btConvexHullShape.h>
#include <BulletDynamics/Featherstone/btMultiBody.h>
#include <BulletDynamics/Featherstone/btMultiBodyConstraintSolver.h>
#include <BulletDynamics/Featherstone/btMultiBodyDynamicsWorld.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointLimitConstraint.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointMotor.h>
#include <BulletDynamics/Featherstone/btMultiBodyLinkCollider.h>
#include <LinearMath/btQuickprof.h>
#include <btBulletDynamicsCommon.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

extern btScalar gDbvtMargin;

namespace {

void noProfileEnter(const char *) {}
void noProfileLeave() {}

// Bullet keeps a few settings in globals. They are set once, to pybullet's values, before any world exists;
// profiling zones are turned off (they cost time and their default bookkeeping is not thread-safe).
void configureBulletGlobals() {
  static std::once_flag once;
  std::call_once(once, [] {
    gDbvtMargin = btScalar(0);
    btSetCustomEnterProfileZoneFunc(noProfileEnter);
    btSetCustomLeaveProfileZoneFunc(noProfileLeave);
  });
}

// URDF rpy to a quaternion, as UrdfParser::parseTransform computes it.
btQuaternion quaternionFromRPY(const double rpy[3]) {
  double phi = rpy[0] / 2.0, the = rpy[1] / 2.0, psi = rpy[2] / 2.0;
  btQuaternion q(std::sin(phi) * std::cos(the) * std::cos(psi) - std::cos(phi) * std::sin(the) * std::sin(psi),
                 std::cos(phi) * std::sin(the) * std::cos(psi) + std::sin(phi) * std::cos(the) * std::sin(psi),
                 std::cos(phi) * std::cos(the) * std::sin(psi) - std::sin(phi) * std::sin(the) * std::cos(psi),
                 std::cos(phi) * std::cos(the) * std::cos(psi) + std::sin(phi) * std::sin(the) * std::sin(psi));
  q.normalize();
  return q;
}

btTransform transformFrom(const double xyz[3], const double rpy[3]) {
  btTransform t;
  t.setIdentity();
  t.setOrigin(btVector3(xyz[0], xyz[1], xyz[2]));
  t.setRotation(quaternionFromRPY(rpy));
  return t;
}

const btScalar kCollisionMargin = 0.001; // gUrdfDefaultCollisionMargin

struct Body {
  btMultiBody *multiBody = nullptr;
  std::vector<btTransform> inertialFrames; // [0] base, [i + 1] link i: link frame → inertial frame
  std::vector<btMultiBodyJointMotor *> motors; // per link, null for fixed joints
  std::vector<double> torques;                 // per link, applied every step
};

struct Object {
  btRigidBody *body = nullptr;
};

} // namespace

struct rx_world {
  btDefaultCollisionConfiguration collisionConfiguration;
  btCollisionDispatcher dispatcher{&collisionConfiguration};
  btHashedOverlappingPairCache pairCache;
  btDbvtBroadphase broadphase{&pairCache};
  btMultiBodyConstraintSolver solver;
  btMultiBodyDynamicsWorld world{&dispatcher, &broadphase, &solver, &collisionConfiguration};
  long steps = 0;

  std::vector<std::unique_ptr<btCollisionShape>> shapes;
  std::vector<std::unique_ptr<btMultiBodyLinkCollider>> colliders;
  std::vector<std::unique_ptr<btMultiBodyConstraint>> constraints;
  std::vector<std::unique_ptr<btMultiBody>> multiBodies;
  std::vector<std::unique_ptr<btRigidBody>> rigidBodies;
  std::vector<std::unique_ptr<btDefaultMotionState>> motionStates;
  std::vector<Body> bodies;
  std::vector<Object> objects;
  btAlignedObjectArray<btQuaternion> scratchQ;
  btAlignedObjectArray<btVector3> scratchM;

  rx_world() {
    broadphase.setVelocityPrediction(0);
    btContactSolverInfo &info = world.getSolverInfo();
    info.m_erp2 = 0.08;
    info.m_frictionERP = 0.2;
    info.m_linearSlop = 0.00001;
    info.m_numIterations = 50;
    info.m_minimumSolverBatchSize = 0;
    info.m_warmstartingFactor = 0.1;
    info.m_leastSquaresResidualThreshold = 1e-7;
    world.setForceUpdateAllAabbs(false);
  }

  ~rx_world() {
    for (auto &c : constraints) world.removeMultiBodyConstraint(c.get());
    for (auto &b : rigidBodies) world.removeRigidBody(b.get());
    for (auto &c : colliders) world.removeCollisionObject(c.get());
    for (auto &m : multiBodies) world.removeMultiBody(m.get());
  }

  void refreshKinematics(btMultiBody *mb) {
    mb->forwardKinematics(scratchQ, scratchM);
    mb->updateCollisionObjectWorldTransforms(scratchQ, scratchM);
  }
};

namespace {

// The collision shape of one link in its inertial frame (BulletURDFImporter::convertLinkCollisionShapes);
// a single child at the identity is used directly, as pybullet does.
btCollisionShape *makeLinkShape(rx_world *w, const rx_link_desc &link, const rx_shape_desc *shapes,
                                const btTransform &inertialFrame) {
  auto compound = std::make_unique<btCompoundShape>();
  compound->setMargin(kCollisionMargin);
  for (long s = link.first_shape; s < link.first_shape + link.shape_count; ++s) {
    const rx_shape_desc &d = shapes[s];
    std::unique_ptr<btCollisionShape> child;
    switch (d.type) {
    case RX_SHAPE_BOX:
      child = std::make_unique<btBoxShape>(btVector3(d.size[0], d.size[1], d.size[2]) * 0.5);
      break;
    case RX_SHAPE_SPHERE:
      child = std::make_unique<btSphereShape>(d.size[0]);
      break;
    case RX_SHAPE_CAPSULE:
      child = std::make_unique<btCapsuleShapeZ>(d.size[0], d.size[1]);
      break;
    case RX_SHAPE_CYLINDER: {
      // pybullet's default cylinder: a 32-sided convex hull.
      btAlignedObjectArray<btVector3> vertices;
      const int numSteps = 32;
      double r = d.size[0], h = 0.5 * d.size[1];
      for (int i = 0; i < numSteps; i++) {
        btVector3 v(r * btSin(SIMD_2_PI * (float(i) / numSteps)), r * btCos(SIMD_2_PI * (float(i) / numSteps)), h);
        vertices.push_back(v);
        v[2] = -h;
        vertices.push_back(v);
      }
      auto hull = std::make_unique<btConvexHullShape>(&vertices[0].x(), vertices.size(), sizeof(btVector3));
      hull->setMargin(kCollisionMargin);
      hull->recalcLocalAabb();
      hull->optimizeConvexHull();
      child = std::move(hull);
      break;
    }
    case RX_SHAPE_OBJ_HULL: {
      // BulletURDFImporter's createConvexHullFromShapes: margin first, points, local box, then optimize; the hull
      // sits in a compound of its own.
      auto hull = std::make_unique<btConvexHullShape>();
      hull->setMargin(kCollisionMargin);
      for (long v = 0; v < d.vertex_count; ++v) {
        hull->addPoint(btVector3(d.vertices[3 * v], d.vertices[3 * v + 1], d.vertices[3 * v + 2]), false);
      }
      hull->recalcLocalAabb();
      hull->optimizeConvexHull();
      auto inner = std::make_unique<btCompoundShape>();
      inner->setMargin(kCollisionMargin);
      btTransform identity;
      identity.setIdentity();
      inner->addChildShape(identity, hull.get());
      w->shapes.push_back(std::move(hull));
      compound->addChildShape(inertialFrame.inverse() * transformFrom(d.xyz, d.rpy), inner.get());
      w->shapes.push_back(std::move(inner));
      continue;
    }
    case RX_SHAPE_CONVEX_HULL: {
      auto hull = std::make_unique<btConvexHullShape>();
      for (long v = 0; v < d.vertex_count; ++v) {
        hull->addPoint(btVector3(d.vertices[3 * v], d.vertices[3 * v + 1], d.vertices[3 * v + 2]), false);
      }
      hull->recalcLocalAabb();
      hull->optimizeConvexHull();
      hull->setMargin(kCollisionMargin);
      hull->recalcLocalAabb();
      child = std::move(hull);
      break;
    }
    }
    if (!child) continue;
    child->setMargin(kCollisionMargin);
    compound->addChildShape(inertialFrame.inverse() * transformFrom(d.xyz, d.rpy), child.get());
    w->shapes.push_back(std::move(child));
  }
  btCollisionShape *result = compound.get();
  if (compound->getNumChildShapes() == 1 && compound->getChildTransform(0) == btTransform::getIdentity()) {
    result = compound->getChildShape(0);
  }
  w->shapes.push_back(std::move(compound));
  return result;
}

// Mass, principal inertia and inertial frame (BulletURDFImporter::getMassAndInertia): a tensor with products of
// inertia is diagonalized and its principal axes folded into the frame; an impossible tensor becomes zero.
void massAndInertia(const rx_link_desc &d, bool zeroMass, btScalar &mass, btVector3 &diagonal, btTransform &frame,
                    bool fromShapes) {
  if (fromShapes) {
    // getMassAndInertia2 without CUF_USE_URDF_INERTIA: the URDF's inertial frame as is, the diagonal filled in
    // later from the collision shape.
    mass = zeroMass ? 0 : d.mass;
    diagonal.setValue(0, 0, 0);
    frame = transformFrom(d.inertial_xyz, d.inertial_rpy);
    return;
  }
  btMatrix3x3 basis;
  basis.setIdentity();
  double ix = 0, iy = 0, iz = 0;
  mass = 0;
  if (!zeroMass) {
    mass = d.mass;
    const double *I = d.inertia; // ixx ixy ixz iyy iyz izz
    if (I[1] == 0.0 && I[2] == 0.0 && I[4] == 0.0) {
      ix = I[0];
      iy = I[3];
      iz = I[5];
    } else {
      btMatrix3x3 tensor(I[0], I[1], I[2], I[1], I[3], I[4], I[2], I[4], I[5]);
      tensor.diagonalize(basis, 1.0e-6, 30);
      ix = tensor[0][0];
      iy = tensor[1][1];
      iz = tensor[2][2];
    }
  }
  if (ix < 0 || ix > iy + iz || iy < 0 || iy > ix + iz || iz < 0 || iz > ix + iy) {
    ix = iy = iz = 0;
    basis.setIdentity();
  }
  diagonal.setValue(ix, iy, iz);
  btTransform local = transformFrom(d.inertial_xyz, d.inertial_rpy);
  frame.setIdentity();
  frame.setOrigin(local.getOrigin());
  frame.setBasis(local.getBasis() * basis);
}

void copyTransform(const btTransform &t, double pos[3], double quat[4]) {
  const btVector3 &o = t.getOrigin();
  btQuaternion q = t.getRotation();
  pos[0] = o.x();
  pos[1] = o.y();
  pos[2] = o.z();
  quat[0] = q.x();
  quat[1] = q.y();
  quat[2] = q.z();
  quat[3] = q.w();
}

bool validBody(const rx_world *w, int body) { return body >= 0 && size_t(body) < w->bodies.size(); }
bool validObject(const rx_world *w, int object) { return object >= 0 && size_t(object) < w->objects.size(); }

} // namespace

extern "C" {

rx_world *rx_world_create(double gravity_z) {
  configureBulletGlobals();
  auto *w = new rx_world();
  w->world.setGravity(btVector3(0, 0, btScalar(gravity_z)));
  return w;
}

void rx_world_destroy(rx_world *world) { delete world; }

void rx_world_step(rx_world *world, double dt) {
  for (Body &b : world->bodies) {
    btMultiBody *mb = b.multiBody;
    for (int l = 0; l < mb->getNumLinks(); ++l) {
      const btMultibodyLink &link = mb->getLink(l);
      if (link.m_dofCount == 0) continue;
      // pybullet adds joint damping as an explicit torque before each step.
      double torque = b.torques[l] - link.m_jointDamping * mb->getJointVel(l);
      mb->addJointTorque(l, torque);
    }
  }
  world->world.stepSimulation(btScalar(dt), 0, btScalar(dt));
  world->steps += 1;
}

void rx_world_step_n(rx_world *world, double dt, long n) {
  for (long i = 0; i < n; ++i) rx_world_step(world, dt);
}

long rx_world_step_count(const rx_world *world) { return world->steps; }

void rx_world_set_solver_iterations(rx_world *world, int iterations) {
  world->world.getSolverInfo().m_numIterations = iterations;
}

int rx_world_add_multibody(rx_world *w, const rx_link_desc *links, long link_count, const rx_shape_desc *shapes,
                           long shape_count, int fixed_base, const double base_xyz[3], int flags,
                           char *error, size_t error_capacity) {
  const bool selfCollision = (flags & RX_MULTIBODY_SELF_COLLISION) != 0;
  const bool inertiaFromShapes = (flags & RX_MULTIBODY_INERTIA_FROM_SHAPES) != 0;
  auto fail = [&](const char *message, long index) {
    if (error && error_capacity > 0) std::snprintf(error, error_capacity, "%s (link %ld)", message, index);
    return -1;
  };
  if (link_count < 1) return fail("a multibody needs at least a base link", 0);
  for (long i = 0; i < link_count; ++i) {
    const rx_link_desc &d = links[i];
    if (i > 0 && (d.parent < 0 || d.parent >= i)) return fail("parent must precede its child", i);
    if (d.first_shape < 0 || d.shape_count < 0 || d.first_shape + d.shape_count > shape_count)
      return fail("shape range out of bounds", i);
  }
  const int numLinks = int(link_count - 1);
  std::vector<btTransform> inertialFrames(link_count);
  std::vector<btScalar> masses(link_count);
  std::vector<btVector3> inertias(link_count);
  for (long i = 0; i < link_count; ++i) {
    massAndInertia(links[i], i == 0 && fixed_base, masses[i], inertias[i], inertialFrames[i], inertiaFromShapes);
  }
  std::vector<btCollisionShape *> linkShapes(link_count);
  for (long i = 0; i < link_count; ++i) {
    linkShapes[i] = makeLinkShape(w, links[i], shapes, inertialFrames[i]);
    // pybullet's default (no URDF_USE_INERTIA_FROM_FILE): inertia of the collision shape (a box around it for
    // hulls and compounds) for the URDF mass.
    if (inertiaFromShapes && masses[i] != 0) linkShapes[i]->calculateLocalInertia(masses[i], inertias[i]);
  }
  bool isFixedBase = masses[0] == 0;
  auto mbOwned = std::make_unique<btMultiBody>(numLinks, masses[0], inertias[0], isFixedBase, false);
  btMultiBody *mb = mbOwned.get();
  Body body;
  body.multiBody = mb;
  body.inertialFrames = inertialFrames;
  body.motors.assign(numLinks, nullptr);
  body.torques.assign(numLinks, 0.0);

  btTransform root;
  root.setIdentity();
  root.setOrigin(btVector3(base_xyz[0], base_xyz[1], base_xyz[2]));
  std::vector<btTransform> linkWorld(link_count);
  linkWorld[0] = root;

  for (long i = 0; i < link_count; ++i) {
    const rx_link_desc &d = links[i];
    const int mbIndex = int(i) - 1;
    btCollisionShape *shape = linkShapes[i];
    if (i > 0) {
      const int parent = d.parent;
      btTransform parent2joint = transformFrom(d.joint_xyz, d.joint_rpy);
      linkWorld[i] = linkWorld[parent] * parent2joint;
      btTransform offsetInA = inertialFrames[parent].inverse() * parent2joint;
      btTransform offsetInB = inertialFrames[i].inverse();
      btQuaternion parentRotToThis = offsetInB.getRotation() * offsetInA.inverse().getRotation();
      btMultibodyLink &link = mb->getLink(mbIndex);
      link.m_jointDamping = d.damping;
      link.m_jointFriction = d.friction;
      link.m_jointLowerLimit = d.lower;
      link.m_jointUpperLimit = d.upper;
      link.m_jointMaxForce = d.max_force;
      link.m_jointMaxVelocity = d.max_velocity;
      btVector3 axis(d.axis[0], d.axis[1], d.axis[2]);
      switch (d.joint_type) {
      case RX_JOINT_FIXED:
        mb->setupFixed(mbIndex, masses[i], inertias[i], parent - 1, parentRotToThis, offsetInA.getOrigin(),
                       -offsetInB.getOrigin());
        break;
      case RX_JOINT_REVOLUTE:
      case RX_JOINT_CONTINUOUS:
        mb->setupRevolute(mbIndex, masses[i], inertias[i], parent - 1, parentRotToThis,
                          quatRotate(offsetInB.getRotation(), axis), offsetInA.getOrigin(), -offsetInB.getOrigin(),
                          true);
        if (d.joint_type == RX_JOINT_REVOLUTE && d.lower <= d.upper) {
          auto limit = std::make_unique<btMultiBodyJointLimitConstraint>(mb, mbIndex, d.lower, d.upper);
          w->world.addMultiBodyConstraint(limit.get());
          w->constraints.push_back(std::move(limit));
        }
        break;
      case RX_JOINT_PRISMATIC:
        mb->setupPrismatic(mbIndex, masses[i], inertias[i], parent - 1, parentRotToThis,
                           quatRotate(offsetInB.getRotation(), axis), offsetInA.getOrigin(), -offsetInB.getOrigin(),
                           true);
        if (d.lower <= d.upper) {
          auto limit = std::make_unique<btMultiBodyJointLimitConstraint>(mb, mbIndex, d.lower, d.upper);
          w->world.addMultiBodyConstraint(limit.get());
          w->constraints.push_back(std::move(limit));
        }
        break;
      }
    }
    auto col = std::make_unique<btMultiBodyLinkCollider>(mb, mbIndex);
    col->setCollisionShape(shape);
    col->setWorldTransform(linkWorld[i]);
    if (d.lateral_friction >= 0) col->setFriction(d.lateral_friction);
    bool isDynamic = !(mbIndex < 0 && isFixedBase);
    int group = isDynamic ? int(btBroadphaseProxy::DefaultFilter) : int(btBroadphaseProxy::StaticFilter);
    int mask = isDynamic ? int(btBroadphaseProxy::AllFilter) : int(btBroadphaseProxy::AllFilter ^ btBroadphaseProxy::StaticFilter);
    w->world.addCollisionObject(col.get(), group, mask);
    if (mbIndex >= 0) {
      if (mb->getBaseMass() == 0) {
        bool allFixed = true;
        int test = mbIndex;
        do {
          if (mb->getLink(test).m_jointType != btMultibodyLink::eFixed) {
            allFixed = false;
            break;
          }
          test = mb->getLink(test).m_parent;
        } while (test > 0);
        if (allFixed) col->setCollisionFlags(col->getCollisionFlags() | btCollisionObject::CF_STATIC_OBJECT);
      }
      mb->getLink(mbIndex).m_collider = col.get();
    } else {
      if (mb->getBaseMass() == 0) col->setCollisionFlags(col->getCollisionFlags() | btCollisionObject::CF_STATIC_OBJECT);
      mb->setBaseCollider(col.get());
    }
    w->colliders.push_back(std::move(col));
  }
  mb->setHasSelfCollision(selfCollision);
  mb->finalizeMultiDof();
  mb->setBaseWorldTransform(root * inertialFrames[0]);
  w->refreshKinematics(mb);
  w->world.addMultiBody(mb);
  // pybullet's createJointMotors: a velocity motor (target 0, kd 1, impulse 1) on every 1-dof joint.
  for (int l = 0; l < numLinks; ++l) {
    auto type = mb->getLink(l).m_jointType;
    if (type == btMultibodyLink::eRevolute || type == btMultibodyLink::ePrismatic) {
      auto motor = std::make_unique<btMultiBodyJointMotor>(mb, l, 0, btScalar(0), btScalar(1));
      motor->setPositionTarget(0, 0);
      motor->setVelocityTarget(0, 1);
      w->world.addMultiBodyConstraint(motor.get());
      motor->finalizeMultiDof();
      body.motors[l] = motor.get();
      w->constraints.push_back(std::move(motor));
    }
  }
  w->multiBodies.push_back(std::move(mbOwned));
  w->bodies.push_back(std::move(body));
  return int(w->bodies.size() - 1);
}

long rx_body_link_count(const rx_world *w, int body) {
  if (!validBody(w, body)) return 0;
  return w->bodies[body].multiBody->getNumLinks();
}

void rx_body_reset_joints(rx_world *w, int body, const double *q, const double *qd) {
  if (!validBody(w, body)) return;
  Body &b = w->bodies[body];
  btMultiBody *mb = b.multiBody;
  for (int l = 0; l < mb->getNumLinks(); ++l) {
    if (mb->getLink(l).m_dofCount != 1) continue;
    mb->setJointPos(l, q[l]);
    mb->setJointVel(l, qd ? qd[l] : 0.0);
  }
  w->refreshKinematics(mb);
}

void rx_body_joint_state(const rx_world *w, int body, double *q, double *qd) {
  if (!validBody(w, body)) return;
  const btMultiBody *mb = w->bodies[body].multiBody;
  for (int l = 0; l < mb->getNumLinks(); ++l) {
    bool moves = mb->getLink(l).m_dofCount == 1;
    if (q) q[l] = moves ? mb->getJointPos(l) : 0.0;
    if (qd) qd[l] = moves ? mb->getJointVel(l) : 0.0;
  }
}

void rx_body_position_control(rx_world *w, int body, long count, const int *links, const double *position,
                              const double *velocity, const double *kp, const double *kd, const double *max_force,
                              const double *max_velocity, double dt) {
  if (!validBody(w, body)) return;
  Body &b = w->bodies[body];
  btMultiBody *mb = b.multiBody;
  for (long i = 0; i < count; ++i) {
    int l = links[i];
    if (l < 0 || l >= mb->getNumLinks() || !b.motors[l]) continue;
    btMultiBodyJointMotor *motor = b.motors[l];
    b.torques[l] = 0;
    // CONTROL_MODE_POSITION_VELOCITY_PD in PhysicsServerCommandProcessor.
    if (max_velocity && max_velocity[i] > 0) motor->setRhsClamp(max_velocity[i]);
    motor->setVelocityTarget(velocity ? velocity[i] : 0.0, kd[i]);
    double target = position[i];
    const btMultibodyLink &link = mb->getLink(l);
    if (link.m_jointLowerLimit <= link.m_jointUpperLimit) btClamp(target, link.m_jointLowerLimit, link.m_jointUpperLimit);
    motor->setPositionTarget(target, kp[i]);
    motor->setMaxAppliedImpulse(max_force[i] * dt);
  }
}

void rx_body_torque_control(rx_world *w, int body, long count, const int *links, const double *torque) {
  if (!validBody(w, body)) return;
  Body &b = w->bodies[body];
  for (long i = 0; i < count; ++i) {
    int l = links[i];
    if (l < 0 || l >= b.multiBody->getNumLinks()) continue;
    b.torques[l] = torque[i];
    if (b.motors[l]) b.motors[l]->setMaxAppliedImpulse(0);
  }
}

void rx_body_link_pose(const rx_world *w, int body, int link, double pos[3], double quat[4]) {
  if (!validBody(w, body)) return;
  const Body &b = w->bodies[body];
  const btMultiBody *mb = b.multiBody;
  btTransform com;
  if (link < 0) {
    com = mb->getBaseWorldTransform();
  } else if (link < mb->getNumLinks()) {
    com = mb->getLink(link).m_cachedWorldTransform;
  } else {
    return;
  }
  copyTransform(com * b.inertialFrames[link + 1].inverse(), pos, quat);
}

int rx_world_add_plane(rx_world *w, double z, double friction) {
  auto shape = std::make_unique<btStaticPlaneShape>(btVector3(0, 0, 1), btScalar(z));
  shape->setMargin(kCollisionMargin);
  btRigidBody::btRigidBodyConstructionInfo info(0, nullptr, shape.get());
  auto rb = std::make_unique<btRigidBody>(info);
  rb->setFriction(friction);
  w->world.addRigidBody(rb.get());
  Object o;
  o.body = rb.get();
  w->objects.push_back(o);
  w->shapes.push_back(std::move(shape));
  w->rigidBodies.push_back(std::move(rb));
  return int(w->objects.size() - 1);
}

int rx_world_add_box(rx_world *w, const double half_extents[3], double mass, double friction, const double pos[3],
                     const double quat[4]) {
  auto shape = std::make_unique<btBoxShape>(btVector3(half_extents[0], half_extents[1], half_extents[2]));
  shape->setMargin(kCollisionMargin);
  btVector3 inertia(0, 0, 0);
  if (mass > 0) shape->calculateLocalInertia(mass, inertia);
  btTransform t;
  t.setIdentity();
  t.setOrigin(btVector3(pos[0], pos[1], pos[2]));
  t.setRotation(btQuaternion(quat[0], quat[1], quat[2], quat[3]));
  btRigidBody::btRigidBodyConstructionInfo info(mass, nullptr, shape.get(), inertia);
  info.m_startWorldTransform = t;
  auto rb = std::make_unique<btRigidBody>(info);
  rb->setFriction(friction);
  rb->forceActivationState(DISABLE_DEACTIVATION);
  w->world.addRigidBody(rb.get());
  Object o;
  o.body = rb.get();
  w->objects.push_back(o);
  w->shapes.push_back(std::move(shape));
  w->rigidBodies.push_back(std::move(rb));
  return int(w->objects.size() - 1);
}

void rx_object_set_pose(rx_world *w, int object, const double pos[3], const double quat[4]) {
  if (!validObject(w, object)) return;
  btRigidBody *rb = w->objects[object].body;
  btTransform t;
  t.setIdentity();
  t.setOrigin(btVector3(pos[0], pos[1], pos[2]));
  t.setRotation(btQuaternion(quat[0], quat[1], quat[2], quat[3]));
  rb->setWorldTransform(t);
  rb->setInterpolationWorldTransform(t);
  rb->setLinearVelocity(btVector3(0, 0, 0));
  rb->setAngularVelocity(btVector3(0, 0, 0));
  rb->setInterpolationLinearVelocity(btVector3(0, 0, 0));
  rb->setInterpolationAngularVelocity(btVector3(0, 0, 0));
  rb->clearForces();
}

void rx_object_pose(const rx_world *w, int object, double pos[3], double quat[4], double linear_velocity[3],
                    double angular_velocity[3]) {
  if (!validObject(w, object)) return;
  const btRigidBody *rb = w->objects[object].body;
  copyTransform(rb->getWorldTransform(), pos, quat);
  if (linear_velocity) {
    const btVector3 &v = rb->getLinearVelocity();
    linear_velocity[0] = v.x();
    linear_velocity[1] = v.y();
    linear_velocity[2] = v.z();
  }
  if (angular_velocity) {
    const btVector3 &v = rb->getAngularVelocity();
    angular_velocity[0] = v.x();
    angular_velocity[1] = v.y();
    angular_velocity[2] = v.z();
  }
}

} // extern "C"
